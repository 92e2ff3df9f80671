import { afterEach, expect, test } from "bun:test";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";
import { waitFor } from "../helpers/processes.ts";

let h: InProcess;
afterEach(() => h?.stop());

test("runs left unread are read by the dispatcher when an agent has room: a few a pass, the oldest first, not those that ended", async () => {
  h = await startInProcess();
  const { scheduler } = h.coordinator.services;
  await h.agent("a1");
  const ended: string[] = [];
  for (let i = 0; i < 3; i++) ended.push(await h.submit(`tasks:\n  t${i}: { steps: [ { run: echo done } ] }\n`));
  for (const id of ended) await h.waitPhase(id, ["finished"]);
  // runs no agent here can take (so the agent keeps its free slot), as another node's are to this one before it read them
  const waiting: string[] = [];
  for (let i = 0; i < 10; i++) waiting.push(await h.submit(`tasks:\n  w${i}: { labels: { role: elsewhere }, steps: [ { run: hold } ] }\n`));
  for (const id of waiting) await h.waitPhase(id, ["queued", "running"]);
  await scheduler.serial.run(async () => {
    for (const id of waiting) scheduler.untrack(id);
  });
  const read: string[] = [];
  const readRun = scheduler.read.bind(scheduler);
  scheduler.read = (id) => {
    read.push(id);
    return readRun(id);
  };
  const perPass: number[] = [];
  const readUnread = scheduler.readUnread.bind(scheduler);
  scheduler.readUnread = async () => {
    const before = read.length;
    const any = await readUnread();
    perPass.push(read.length - before);
    return any;
  };

  for (const id of [...waiting].reverse()) scheduler.leaveUnread(id);
  for (const id of ended) scheduler.leaveUnread(id);
  await waitFor("every waiting run read again", () => waiting.every((id) => scheduler.active.has(id)));
  expect(read).toEqual(waiting);
  // eight a pass, the oldest first: the three runs that ended are the oldest, looked at and not read
  expect(perPass.filter((n) => n > 0)).toEqual([5, 5]);
  for (const id of ended) expect(scheduler.active.has(id)).toBe(false);
});

test("a run left unread whose own node has little left to place is looked at again, and read once an attempt of it has waited 2 s", async () => {
  h = await startInProcess();
  const { scheduler } = h.coordinator.services;
  const busy = await h.agent("busy", { capacity: 36, labels: { role: "x" } });
  // a free slot, for none of the run's tasks: the dispatcher looks at runs left unread only with room
  await h.agent("idle");
  const submitted = Date.now();
  const id = await h.submit(`tasks:\n${Array.from({ length: 40 }, (_, i) => `  t${i}: { labels: { role: x }, steps: [ { run: hold } ] }\n`).join("")}`);
  await waitFor("36 of the 40 attempts held", () => busy.held.size === 36);
  await scheduler.serial.run(async () => scheduler.untrack(id));
  const reads: number[] = [];
  const readRun = scheduler.read.bind(scheduler);
  scheduler.read = (runId) => {
    if (runId === id) reads.push(Date.now());
    return readRun(runId);
  };
  let looks = 0;
  const readUnread = scheduler.readUnread.bind(scheduler);
  scheduler.readUnread = () => {
    looks++;
    return readUnread();
  };

  // 4 of 40 queued, a tenth: its own node has little left to place, not worth a whole read
  scheduler.leaveUnread(id);
  await Bun.sleep(1_000);
  expect(reads).toEqual([]);
  expect(looks).toBeGreaterThanOrEqual(3);
  await waitFor("the run read once its queued attempts have waited 2 s", () => reads.length > 0, 5_000);
  expect(reads[0]! - submitted).toBeGreaterThanOrEqual(2_000);
  expect(scheduler.active.has(id)).toBe(true);
});
