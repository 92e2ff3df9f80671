import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";

// Two coordinators in this process on one database file, as two nodes of a cluster (no NATS: the test says what each hears).
let nodes: InProcess[] = [];
let shared = "";
afterEach(async () => {
  for (const node of nodes) await node.stop();
  nodes = [];
  rmSync(shared, { recursive: true, force: true });
});

test("a node told that a run ended elsewhere forgets it, and the attempts it still held as queued leave its queue", async () => {
  shared = mkdtempSync(join(tmpdir(), "drover-shared-db-"));
  const env = { DROVER_DB_URL: `file:${join(shared, "cluster.db")}` };
  const driving = await startInProcess(env);
  nodes.push(driving);
  const other = await startInProcess(env);
  nodes.push(other);
  const id = await driving.submit("tasks:\n  one: { steps: [ { run: x } ] }\n  two: { steps: [ { run: y } ] }\n");
  const { scheduler, dispatcher } = other.coordinator.services;
  await scheduler.serial.run(() => scheduler.read(id));
  // no agent here takes them: both wait in this node's queue, as another node's agents take them unsaid
  expect(dispatcher.length).toBe(2);

  // inside one turn of this node's, so that no poll of its own reads the run's end first
  await scheduler.serial.run(async () => {
    const engine = driving.coordinator.services.scheduler;
    await engine.serial.run(async () => {
      for (const attempt of [...engine.active.get(id)!.attempts.values()]) {
        await engine.transition(attempt.id, "assign", { state: "assigned", agentId: "played-by-the-test" });
        await engine.transition(attempt.id, "accept", { state: "running" });
        await engine.transition(attempt.id, "result", { state: "success", endedAt: Date.now() });
      }
      engine.requestAdvance(id);
    });
    expect(await driving.waitPhase(id, ["finished"])).toBe("finished");
    // the hint of the run's phase names no attempt
    await scheduler.readAttempts(id, []);
  });
  expect(scheduler.active.has(id)).toBe(false);
  expect(dispatcher.length).toBe(0);
});
