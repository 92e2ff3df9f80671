import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  InvalidKeyError,
  type ObjectStore,
  type ObjectStoreOptions,
  ObjectTooLargeError,
} from "../../coordinator/store/object-store.ts";
import { waitFor } from "../helpers/processes.ts";
import { collect, generated, hashStream, pattern, readAll, sha256Hex } from "./streams.ts";

export interface StoreFixture {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;
// Odd chunk sizes so S3 part boundaries fall inside chunks.
const CHUNK = MiB + 13;
const text = new TextDecoder();

export interface ServerLimits {
  /** The server writes objects in place, so racing puts to one key can mix (s3rver; not real S3). */
  nonAtomicOverwrite?: boolean;
}

/** The behaviour every ObjectStore must share; each test gets a fresh, empty store. */
export function runObjectStoreContract(
  name: string,
  makeStore: (opts?: ObjectStoreOptions) => Promise<StoreFixture>,
  limits: ServerLimits = {},
) {
  describe(`${name} object store contract`, () => {
    let fixture: StoreFixture;
    let store: ObjectStore;
    beforeEach(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });
    afterEach(() => fixture.cleanup());

    const keys = async (prefix: string) => (await collect(store.list(prefix))).map((o) => o.key);

    test("round-trips bytes, strings and empty bodies with size and sha256", async () => {
      const bytes = pattern(100_003, 1);
      expect(await store.put("a/bytes", bytes)).toEqual({ size: bytes.length, sha256: sha256Hex(bytes) });
      expect(await readAll(await store.get("a/bytes"))).toEqual(bytes);

      const str = "héllo, wörld ✓\n";
      const utf8 = new TextEncoder().encode(str);
      expect(await store.put("a/string", str)).toEqual({ size: utf8.length, sha256: sha256Hex(utf8) });
      expect(text.decode(await readAll(await store.get("a/string")))).toBe(str);

      expect(await store.put("a/empty", "")).toEqual({ size: 0, sha256: sha256Hex("") });
      expect((await readAll(await store.get("a/empty"))).length).toBe(0);
    });

    test("streams a 20 MiB body of unknown length across several parts", async () => {
      const body = generated(20 * MiB, CHUNK);
      const res = await store.put("big/stream", body.stream);
      expect(res).toEqual({ size: 20 * MiB, sha256: body.sha256() });
      expect(await hashStream(await store.get("big/stream"))).toEqual(res);
      expect((await store.stat("big/stream"))?.size).toBe(20 * MiB);
    });

    test("stat reports size and modification time; missing objects are null", async () => {
      await store.put("s/one", "12345");
      const info = await store.stat("s/one");
      expect(info).toMatchObject({ key: "s/one", size: 5 });
      expect(Math.abs((info?.modifiedAt ?? 0) - Date.now())).toBeLessThan(60_000);
      expect(await store.stat("s/missing")).toBeNull();
      expect(await store.get("s/missing")).toBeNull();
      expect(await store.get("s/missing", { start: 1, end: 3 })).toBeNull();
      expect(await store.get("s")).toBeNull();
    });

    test("serves byte ranges, end exclusive and clamped", async () => {
      const bytes = pattern(1000, 2);
      await store.put("r", bytes);
      const range = async (start: number, end?: number) => readAll(await store.get("r", { start, end }));
      expect(await range(0, 10)).toEqual(bytes.subarray(0, 10));
      expect(await range(990)).toEqual(bytes.subarray(990));
      expect(await range(995, 5000)).toEqual(bytes.subarray(995));
      expect(await range(500, 501)).toEqual(bytes.subarray(500, 501));
      expect((await range(1000)).length).toBe(0);
      expect((await range(5000)).length).toBe(0);
      expect((await range(10, 10)).length).toBe(0);
      await expect(store.get("r", { start: -1 })).rejects.toThrow(RangeError);
    });

    test("delete removes an object and is idempotent", async () => {
      await store.put("d/x", "x");
      await store.delete("d/x");
      expect(await store.stat("d/x")).toBeNull();
      await store.delete("d/x");
      await store.delete("d/never");
    });

    test("lists by prefix in key order", async () => {
      for (const key of ["logs/b/1", "logs/a/2", "logs/a/1", "logsy", "art/1"]) await store.put(key, key);
      expect(await keys("logs/")).toEqual(["logs/a/1", "logs/a/2", "logs/b/1"]);
      expect(await keys("logs/a")).toEqual(["logs/a/1", "logs/a/2"]);
      expect(await keys("logs")).toEqual(["logs/a/1", "logs/a/2", "logs/b/1", "logsy"]);
      expect(await keys("")).toEqual(["art/1", "logs/a/1", "logs/a/2", "logs/b/1", "logsy"]);
      expect(await keys("nope/")).toEqual([]);
      expect((await collect(store.list("art/")))[0]).toMatchObject({ key: "art/1", size: 5 });
    });

    test("overwrite replaces the whole object", async () => {
      await store.put("o", "a much longer first version");
      await store.put("o", "v2");
      expect(text.decode(await readAll(await store.get("o")))).toBe("v2");
      expect((await store.stat("o"))?.size).toBe(2);
    });

    test.skipIf(limits.nonAtomicOverwrite === true)("concurrent puts to one key leave one complete version", async () => {
      const versions = [1, 2, 3, 4].map((i) => pattern(300_000 + i, i));
      await Promise.all(versions.map((v) => store.put("c", v)));
      const got = await readAll(await store.get("c"));
      expect(versions.some((v) => Buffer.from(v).equals(got))).toBe(true);
    });

    test("maxBytes: a too-large stream is refused and nothing is stored", async () => {
      await expect(store.put("m/small", generated(3 * MiB, CHUNK).stream, { maxBytes: MiB })).rejects.toThrow(
        ObjectTooLargeError,
      );
      // Past two parts, so S3 has a multipart upload to abort.
      await expect(store.put("m/multi", generated(20 * MiB, CHUNK).stream, { maxBytes: 17 * MiB })).rejects.toThrow(
        ObjectTooLargeError,
      );
      await expect(store.put("m/bytes", pattern(11, 3), { maxBytes: 10 })).rejects.toThrow(ObjectTooLargeError);
      expect(await keys("m/")).toEqual([]);
      expect(await store.stat("m/multi")).toBeNull();
      expect(await store.put("m/exact", generated(10, 3).stream, { maxBytes: 10 })).toMatchObject({ size: 10 });
    });

    test("maxUnknownSizeBytes caps streams that have no maxBytes, not known-size bodies", async () => {
      const capped = await makeStore({ maxUnknownSizeBytes: 1000 });
      try {
        await expect(capped.store.put("u/stream", generated(1001, 100).stream)).rejects.toThrow(ObjectTooLargeError);
        expect(await capped.store.stat("u/stream")).toBeNull();
        expect(await capped.store.put("u/bytes", pattern(5000, 4))).toMatchObject({ size: 5000 });
      } finally {
        await capped.cleanup();
      }
    });

    test("a body that errors mid-way fails the put and stores nothing", async () => {
      const boom = () => new Error("producer died");
      await expect(store.put("e/small", generated(MiB, 64 * 1024, boom()).stream)).rejects.toThrow("producer died");
      await expect(store.put("e/multi", generated(18 * MiB, CHUNK, boom()).stream)).rejects.toThrow("producer died");
      expect(await keys("e/")).toEqual([]);
    });

    test("hash: false stores the same bytes without a checksum; a cut or oversized body still stores nothing", async () => {
      const body = generated(6 * MiB, CHUNK);
      expect(await store.put("nohash/a", body.stream, { hash: false })).toEqual({ size: 6 * MiB, sha256: "" });
      expect(await hashStream(await store.get("nohash/a"))).toEqual({ size: 6 * MiB, sha256: body.sha256() });
      await expect(store.put("nohash/cut", generated(3 * MiB, CHUNK, new Error("cut")).stream, { hash: false })).rejects.toThrow("cut");
      await expect(store.put("nohash/big", generated(2 * MiB, CHUNK).stream, { hash: false, maxBytes: MiB })).rejects.toThrow(ObjectTooLargeError);
      expect(await keys("nohash/")).toEqual(["nohash/a"]);
    });

    for (const hash of [true, false]) {
      test(`an aborted put fails at once, even while the body waits, and stores nothing (hash: ${hash})`, async () => {
        const control = new AbortController();
        let sent = 0;
        const stalled = new ReadableStream<Uint8Array>({
          async pull(c) {
            if (sent >= 2 * MiB) return new Promise(() => {}); // a dead peer: no more bytes, no end
            sent += 256 * 1024;
            c.enqueue(pattern(256 * 1024, sent));
          },
        });
        const put = store.put("aborted/x", stalled, { signal: control.signal, hash });
        await waitFor("the store to read the body up to its stall", () => sent >= 2 * MiB, 15_000);
        control.abort(new Error("lease lapsed"));
        await expect(put).rejects.toThrow("lease lapsed");
        expect(await keys("aborted/")).toEqual([]);
      });
    }

    test("body serves a whole object (or an empty one) as an HTTP response body; null when missing", async () => {
      const bytes = pattern(3 * MiB + 7, 5);
      await store.put("served/x", bytes);
      const body = await store.body("served/x");
      const served: Uint8Array = new Uint8Array(await new Response(body as BodyInit).arrayBuffer());
      expect(served).toEqual(bytes);
      await store.put("served/empty", "");
      expect((await new Response((await store.body("served/empty")) as BodyInit).arrayBuffer()).byteLength).toBe(0);
      expect(await store.body("served/missing")).toBeNull();
    });

    test("a failed put keeps the previous version", async () => {
      await store.put("f", "old");
      await expect(store.put("f", generated(18 * MiB, CHUNK, new Error("cut")).stream)).rejects.toThrow("cut");
      await expect(store.put("f", generated(2 * MiB, CHUNK).stream, { maxBytes: MiB })).rejects.toThrow(
        ObjectTooLargeError,
      );
      expect(text.decode(await readAll(await store.get("f")))).toBe("old");
    });

    test("putFile stores a file's content", async () => {
      const dir = await mkdtemp(join(tmpdir(), "drover-putfile-"));
      try {
        const bytes = pattern(3 * MiB + 5, 5);
        await writeFile(join(dir, "archive.tar"), bytes);
        expect(await store.putFile("pf/archive", join(dir, "archive.tar"))).toEqual({
          size: bytes.length,
          sha256: sha256Hex(bytes),
        });
        await rm(join(dir, "archive.tar"), { force: true });
        expect(await readAll(await store.get("pf/archive"))).toEqual(bytes);
        await expect(store.putFile("pf/missing", join(dir, "missing"))).rejects.toThrow();
        expect(await store.stat("pf/missing")).toBeNull();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    test("refuses keys that are empty, absolute or have empty, . or .. segments", async () => {
      for (const key of ["", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", "..", "a\0b"]) {
        await expect(store.put(key, "x")).rejects.toThrow(InvalidKeyError);
        await expect(store.get(key)).rejects.toThrow(InvalidKeyError);
        await expect(store.stat(key)).rejects.toThrow(InvalidKeyError);
        await expect(store.delete(key)).rejects.toThrow(InvalidKeyError);
      }
      await expect(collect(store.list("../"))).rejects.toThrow(InvalidKeyError);
      expect(await keys("")).toEqual([]);
    });

    test("a refused put cancels its body stream", async () => {
      let cancelled = false;
      const body = new ReadableStream<Uint8Array>({
        cancel() {
          cancelled = true;
        },
      });
      await expect(store.put("../x", body)).rejects.toThrow(InvalidKeyError);
      expect(cancelled).toBe(true);
    });
  });
}
