import { afterAll, beforeAll, expect, test } from "bun:test";
import { newId } from "../../shared/ids.ts";
import { ADMIN_TOKEN, type InProcess, startInProcess } from "../helpers/in-process.ts";
import { waitFor } from "../helpers/processes.ts";

let h: InProcess;
beforeAll(async () => {
  h = await startInProcess();
});
afterAll(() => h.stop());

test("the whole run's log heads a step with output as running, though its start is not written yet", async () => {
  const agent = await h.agent("early-bytes", { silent: true });
  const id = await h.submit("tasks:\n  t:\n    steps: [ { run: 'echo x' } ]\n");
  const attempt = await waitFor(
    "an assignment",
    () => agent.received.flatMap((m) => (m.type === "assign" ? [m.assignment.attempt] : []))[0],
    5000,
    10,
  );
  agent.sendRaw({ type: "accept", id: newId(), attempt });
  await waitFor("the attempt running", async () => (await h.run(id)).tasks[0]!.attempts[0]!.state === "running", 5000, 10);
  // the step's first bytes, before (here: without) its step_start: what a reader sees while that report waits its turn
  (agent as unknown as { sendChunk(a: string, s: number, o: number, d: Uint8Array): void }).sendChunk(attempt, 0, 0, new TextEncoder().encode("x\n"));
  const log = await waitFor(
    "the bytes in the run's log",
    async () => {
      const text = await (await h.coordinator.app.request(`/api/v1/runs/${id}/log`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
      return text.includes("x\n") ? text : undefined;
    },
    5000,
    20,
  );
  expect(log).toBe("=== t › step 1: echo x (attempt 1, running)\nx\n");
  agent.crash();
});
