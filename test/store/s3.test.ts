import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { S3Client } from "@aws-sdk/client-s3";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { S3ObjectStore } from "../../coordinator/store/s3.ts";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.ts";
import { runObjectStoreContract } from "./contract.ts";
import { collect, generated, hashStream, measure } from "./streams.ts";

const MiB = 1024 * 1024;
// bun test's 5 s default is too tight for 200 MiB puts on a busy machine
// (bunfig's [test] timeout is not applied by Bun 1.4.4).
setDefaultTimeout(60_000);
let s3: S3rverHandle;
beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(() => s3?.stop());

// One bucket for the whole file; each test starts from it emptied.
runObjectStoreContract("s3", async (opts) => {
  const store = openObjectStore(s3.spec, opts);
  const empty = async () => {
    for await (const o of store.list("")) await store.delete(o.key);
  };
  await empty();
  return { store, cleanup: empty };
}, { nonAtomicOverwrite: true });

describe("s3 object store", () => {
  test("openObjectStore reads s3:// specs", () => {
    const store = openObjectStore(s3.spec);
    expect(store.kind).toBe("s3");
    expect((store as S3ObjectStore).bucket).toBe(s3.bucket);
  });

  test("list follows continuation tokens across pages", async () => {
    const client = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true });
    const store = new S3ObjectStore(client, s3.bucket, { listPageSize: 2 });
    const keys = ["p/1", "p/2", "p/3", "p/4", "p/5"];
    try {
      for (const key of keys) await store.put(key, key);
      expect((await collect(store.list("p/"))).map((o) => o.key)).toEqual(keys);
    } finally {
      for (const key of keys) await store.delete(key);
      client.destroy();
    }
  });

  // s3rver writes and rereads the 200 MiB itself: at load average 16–20 on two cores that took over 60 s
  test("a 200 MiB streamed put keeps its live memory bounded", async () => {
    const store = openObjectStore(s3.spec);
    const body = generated(200 * MiB, 256 * 1024);
    let result: unknown;
    try {
      // Each part is copied a few times on its way to the socket, and Bun
      // frees those buffers lazily, so only the live set (measured with GC
      // forced) is bounded: about 60 MiB with 8 MiB parts and 2 in flight.
      const sample = await measure(
        200 * MiB,
        async () => {
          result = await store.put("mem/200m", body.stream);
        },
        true,
      );
      console.log(`s3 put 200 MiB: ${sample.mbPerS.toFixed(0)} MB/s, live RSS +${sample.rssGrowthMiB.toFixed(1)} MiB`);
      expect(result).toEqual({ size: 200 * MiB, sha256: body.sha256() });
      expect(sample.rssGrowthMiB).toBeLessThan(100);
      expect((await hashStream(await store.get("mem/200m"))).sha256).toBe(body.sha256());
    } finally {
      await store.delete("mem/200m");
    }
  }, 180_000);
});
