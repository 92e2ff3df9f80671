import { ADMIN_TOKEN } from "./cluster.ts";

/** A run event as the SSE routes send it, with when this test received it. */
export interface RunEvent {
  seq: number;
  run: string;
  kind: string;
  at: number;
  task?: string;
  status?: string;
  phase?: string;
  receivedAt: number;
}

/**
 * Reads server-sent events from `base + path` until `last` says an event is the last one (or `timeoutMs`
 * passes, which ends the read with what came).
 */
export async function readEvents(base: string, path: string, last: (e: RunEvent) => boolean, timeoutMs = 10_000): Promise<RunEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: RunEvent[] = [];
  let buffer = "";
  const decoder = new TextDecoder();
  try {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: controller.signal });
    for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const data = buffer.slice(0, end).split("\n").find((l) => l.startsWith("data: "));
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf("\n\n");
        if (!data) continue;
        const event = { ...(JSON.parse(data.slice(6)) as Omit<RunEvent, "receivedAt">), receivedAt: Date.now() };
        events.push(event);
        if (last(event)) return events;
      }
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}
