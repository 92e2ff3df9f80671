/**
 * BullMQ's side of the baselines, one worker process like one agent:
 *   bun bullmq-worker.ts PORT QUEUE CONCURRENCY
 * A job does nothing; it returns how long it waited from its `sentAt` (the producer's clock, in ms
 * since the epoch with sub-millisecond precision) to the start of its processing. Prints "ready".
 */
import { Worker } from "bullmq";

const [port, queue, concurrency] = process.argv.slice(2);
if (!port || !queue || !concurrency) {
  console.error("usage: bun bullmq-worker.ts PORT QUEUE CONCURRENCY");
  process.exit(2);
}

const now = () => performance.timeOrigin + performance.now();
const worker = new Worker(queue, async (job) => now() - (job.data as { sentAt: number }).sentAt, {
  connection: { host: "127.0.0.1", port: Number(port), maxRetriesPerRequest: null },
  concurrency: Number(concurrency),
});
await worker.waitUntilReady();
console.log("ready");
