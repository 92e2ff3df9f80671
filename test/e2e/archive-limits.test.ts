import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Cluster, startCluster } from "../helpers/cluster.ts";

let cluster: Cluster;
beforeAll(async () => {
  // 1 MiB objects at most: the HTTP server's cap on bodies follows the store's.
  cluster = await startCluster({ DROVER_MAX_OBJECT_BYTES: String(1024 * 1024) });
  await cluster.startAgent("small");
});
afterAll(() => cluster.stop());

test("a workspace over the object size cap fails its step once, clearly, and is not retried as the infrastructure's", async () => {
  const id = await cluster.submit(`tasks:
  big:
    steps:
      - run: head -c 20000000 /dev/urandom > big.bin
      - save_to_workspace: { paths: [big.bin] }
`);
  const run = await cluster.waitRun(id, 60_000);
  expect(run.result).toBe("failed");
  const task = run.tasks.find((t) => t.name === "big")!;
  expect(task.attempts.length).toBe(1);
  const error = task.attempts[0]!.error ?? "";
  // streamed to the coordinator, its HTTP server refuses the body; sent to a bucket, the agent stops at the limit the plan gave
  const refused = process.env.DROVER_TEST_STORAGE === "s3" ? /\.tar\.zst is larger than the coordinator's object size limit of 1048576 bytes$/ : /larger than the coordinator's object size limit \(HTTP 413\)$/;
  expect(error).toMatch(refused);
  expect(await cluster.log(id, "big", 1)).toMatch(/^error: .*larger than the coordinator's object size limit/);
});
