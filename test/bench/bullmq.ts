/**
 * The peer Drover's dispatch and throughput figures are measured against: BullMQ on Redis, the nearest
 * thing a team would use for plain job distribution, with one worker process in the agent's place.
 * Redis runs without persistence and jobs do nothing, so it is the peer at its fastest: no durable
 * writes, no logs, no DAG.
 */
import { join } from "node:path";
import { Queue, QueueEvents } from "bullmq";
import { captureOutput, killGroup, spawnTracked, waitFor } from "../helpers/processes.ts";
import { startRedis } from "./redis.ts";

interface Peer {
  queue: Queue;
  events: QueueEvents;
}

/** Redis, a queue and one worker process with `concurrency` slots; all stopped afterwards, whatever `fn` does. */
async function withBullmq<T>(concurrency: number, fn: (peer: Peer) => Promise<T>): Promise<T> {
  const redis = await startRedis();
  const name = `bench-${crypto.randomUUID()}`;
  const connection = { host: "127.0.0.1", port: redis.port, maxRetriesPerRequest: null };
  const worker = spawnTracked(["bun", join(import.meta.dir, "bullmq-worker.ts"), String(redis.port), name, String(concurrency)]);
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  try {
    const out = captureOutput(worker.stdout);
    const err = captureOutput(worker.stderr);
    const state = await waitFor(
      "the BullMQ worker",
      () => (worker.exitCode !== null ? "exited" : out.text().includes("ready") && "ready"),
      20_000,
    );
    if (state === "exited") throw new Error(`the BullMQ worker exited with ${worker.exitCode}: ${err.text()}`);
    await events.waitUntilReady();
    return await fn({ queue, events });
  } finally {
    await Promise.allSettled([queue.close(), events.close()]);
    killGroup(worker);
    redis.stop();
  }
}

const now = () => performance.timeOrigin + performance.now();

/** add → the worker starts processing, one job at a time (each added once the one before finished), in ms. */
export function bullmqLatencies(samples: number, warmup: number): Promise<number[]> {
  return withBullmq(1, async ({ queue, events }) => {
    const times: number[] = [];
    for (let i = 0; i < warmup + samples; i++) {
      const job = await queue.add("noop", { sentAt: now() });
      const waited = (await job.waitUntilFinished(events, 30_000)) as number;
      if (i >= warmup) times.push(waited);
    }
    return times;
  });
}

/**
 * No-op jobs per second through one worker with `concurrency` slots: `batches` × `perBatch` jobs added
 * at once (as Drover gets its runs), from just before the first add to the last job's `finishedOn`.
 */
export function bullmqJobsPerSecond(concurrency: number, batches: number, perBatch: number, warmup: number): Promise<number> {
  return withBullmq(concurrency, async ({ queue }) => {
    const once = async (b: number, n: number) => {
      const before = await queue.getCompletedCount();
      const start = Date.now();
      await Promise.all(
        Array.from({ length: b }, () =>
          queue.addBulk(Array.from({ length: n }, () => ({ name: "noop", data: { sentAt: now() } }))),
        ),
      );
      await waitFor(`${b * n} BullMQ jobs`, async () => (await queue.getCompletedCount()) - before >= b * n, 120_000, 20);
      const done = await queue.getJobs(["completed"], 0, b * n - 1);
      return (b * n) / ((Math.max(...done.map((j) => j.finishedOn ?? 0)) - start) / 1000);
    };
    await once(1, warmup);
    await queue.clean(0, 0, "completed");
    return once(batches, perBatch);
  });
}
