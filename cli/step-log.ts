import type { Client } from "./client.ts";

export interface StepLogOptions {
  run: string;
  task: string;
  step: number;
  attempt: number;
  follow: boolean;
}

/** Streams one step's log into `onChunk`; with `follow` it ends when the step's log is final. */
export async function streamStepLog(client: Client, o: StepLogOptions, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  const query = new URLSearchParams({ attempt: String(o.attempt) });
  if (o.follow) query.set("follow", "1");
  const path = `/api/v1/runs/${encodeURIComponent(o.run)}/tasks/${encodeURIComponent(o.task)}/steps/${o.step}/log?${query}`;
  const res = await client.request("GET", path);
  if (!res.body) return;
  for await (const chunk of res.body) onChunk(chunk);
}
