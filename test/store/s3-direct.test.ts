import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { DirectTransfers } from "../../coordinator/store/direct.ts";
import type { ObjectStore } from "../../coordinator/store/object-store.ts";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { type S3rverHandle, startS3rver } from "../helpers/s3rver.ts";
import { collect } from "./streams.ts";

const MiB = 1024 * 1024;
setDefaultTimeout(60_000);
let s3: S3rverHandle;
let store: ObjectStore;
let direct: DirectTransfers;
beforeAll(async () => {
  s3 = await startS3rver("drover-direct");
  store = openObjectStore(`${s3.spec}&partMiB=8&urlTtl=120`);
  direct = store.direct!;
});
afterAll(() => s3?.stop());

const put = (url: string, body: Uint8Array | string) => fetch(url, { method: "PUT", body: body as BodyInit });

describe("presigned transfers on S3", () => {
  test("the spec's parameters set the part size and URL lifetime, within bounds; direct=false turns them off", () => {
    expect([direct.partSize, direct.urlTtlSeconds]).toEqual([8 * MiB, 120]);
    expect(openObjectStore(s3.spec).direct?.partSize).toBe(16 * MiB);
    expect(openObjectStore(`${s3.spec}&direct=false`).direct).toBeUndefined();
    expect(openObjectStore("posix:/tmp/x").direct).toBeUndefined();
    expect(() => openObjectStore(`${s3.spec}&partMiB=4`)).toThrow("partMiB must be a whole number from 8 to 64");
    expect(() => openObjectStore(`${s3.spec}&urlTtl=10`)).toThrow("urlTtl must be a whole number from 60 to 604800");
    expect(() => openObjectStore(`${s3.spec}&direct=yes`)).toThrow("direct must be true or false");
  });

  test("a URL signed for one key puts and gets that object, and carries its lifetime", async () => {
    const url = await direct.putUrl("d/one", 5);
    expect(new URL(url).searchParams.get("X-Amz-Expires")).toBe("120");
    expect(new URL(url).searchParams.get("X-Amz-SignedHeaders")).toBe("content-length;host");
    expect((await put(url, "hello")).status).toBe(200);
    expect((await store.stat("d/one"))?.size).toBe(5);
    expect(await (await fetch(await direct.getUrl("d/one"))).text()).toBe("hello");
    // (s3rver does not check SigV4 signatures, so the bucket's refusal of a tampered URL is not shown here)
  });

  test("a multipart upload by part URLs assembles the parts; a pending one is listed until aborted", async () => {
    const parts = [new Uint8Array(8 * MiB).fill(1), new Uint8Array(3).fill(2)];
    const uploadId = await direct.startMultipart("d/big");
    const uploaded = [];
    for (const [i, bytes] of parts.entries()) {
      const res = await put(await direct.partUrl("d/big", uploadId, i + 1, bytes.length), bytes);
      expect(res.status).toBe(200);
      uploaded.push({ part: i + 1, etag: res.headers.get("etag")! });
    }
    expect((await collect(direct.pendingUploads("d/"))).map((u) => [u.key, u.uploadId])).toEqual([["d/big", uploadId]]);
    await direct.completeMultipart("d/big", uploadId, uploaded);
    expect((await store.stat("d/big"))?.size).toBe(8 * MiB + 3);
    expect(await collect(direct.pendingUploads("d/"))).toEqual([]);

    const abandoned = await direct.startMultipart("d/abandoned");
    await put(await direct.partUrl("d/abandoned", abandoned, 1, 4), "part");
    const [pending] = await collect(direct.pendingUploads("d/aband"));
    expect(pending?.uploadId).toBe(abandoned);
    expect(Date.now() - pending!.initiatedAt).toBeLessThan(60_000);
    expect(await collect(direct.pendingUploads("x/"))).toEqual([]);
    await direct.abortMultipart("d/abandoned", abandoned);
    // aborting twice is harmless
    await direct.abortMultipart("d/abandoned", abandoned);
    expect(await collect(direct.pendingUploads(""))).toEqual([]);
    expect(await store.stat("d/abandoned")).toBeNull();
  });
});
