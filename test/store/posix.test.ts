import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidKeyError, type ObjectStoreOptions, ObjectTooLargeError } from "../../coordinator/store/object-store.ts";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { waitFor } from "../helpers/processes.ts";
import { runObjectStoreContract, type StoreFixture } from "./contract.ts";
import { collect, generated, hashStream, measure, pattern, readAll, sha256Hex } from "./streams.ts";
import { cachedBytes } from "../helpers/page-cache.ts";

const MiB = 1024 * 1024;
// bun test's 5 s default is too tight for 200 MiB puts on a busy machine
// (bunfig's [test] timeout is not applied by Bun 1.4.4).
setDefaultTimeout(60_000);

async function posixFixture(opts: ObjectStoreOptions = {}, parent = tmpdir()): Promise<StoreFixture & { root: string }> {
  const root = await mkdtemp(join(parent, "drover-posix-"));
  return {
    root,
    store: openObjectStore(`posix:${root}`, opts),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/** Runs `body` against a fresh store and removes it afterwards, even on failure. */
async function withStore(
  body: (fx: StoreFixture & { root: string }) => Promise<void>,
  opts: ObjectStoreOptions = {},
  parent?: string,
) {
  const fx = await posixFixture(opts, parent);
  try {
    await body(fx);
  } finally {
    await fx.cleanup();
  }
}

runObjectStoreContract("posix", (opts) => posixFixture(opts));

describe("posix object store", () => {
  test("objects are plain files under the root", () =>
    withStore(async ({ root, store }) => {
      await store.put("logs/run1/step0", "hello");
      expect(await Bun.file(join(root, "logs/run1/step0")).text()).toBe("hello");
    }));

  test("refuses keys escaping the root or entering its temp dir", () =>
    withStore(async ({ root, store }) => {
      await expect(store.put("../escape", "x")).rejects.toThrow(InvalidKeyError);
      await expect(store.put("a/../../escape", "x")).rejects.toThrow(InvalidKeyError);
      await expect(store.put(".tmp/x", "x")).rejects.toThrow(InvalidKeyError);
      expect(existsSync(join(root, "../escape"))).toBe(false);
      await store.put(".tmpx/ok", "x");
      expect((await readdir(root)).sort()).toEqual([".tmp", ".tmpx"]);
    }));

  test("lists in S3's byte order, where 'logs-x/…' sorts before 'logs/…'", () =>
    withStore(async ({ store }) => {
      for (const key of ["logs/a", "logs-x/1", "logs0", "logs.b/c"]) await store.put(key, key);
      expect((await collect(store.list("logs"))).map((o) => o.key)).toEqual(["logs-x/1", "logs.b/c", "logs/a", "logs0"]);
    }));

  test("leaves no temp files after failed puts", () =>
    withStore(async ({ root, store }) => {
      await store.put("ok", generated(3 * MiB, 100_000).stream);
      await expect(store.put("big", generated(3 * MiB, 100_000).stream, { maxBytes: MiB })).rejects.toThrow(
        ObjectTooLargeError,
      );
      await expect(store.put("err", generated(2 * MiB, 100_000, new Error("x")).stream)).rejects.toThrow("x");
      expect(await readdir(join(root, ".tmp"))).toEqual([]);
      expect(await readdir(root)).toEqual(expect.arrayContaining([".tmp", "ok"]));
    }));

  test("a reader keeps the version it opened while the key is overwritten or deleted", () =>
    withStore(async ({ store }) => {
      const v1 = pattern(2 * MiB, 1);
      await store.put("k", v1);
      const reading = await store.get("k");
      await store.put("k", "v2");
      await store.delete("k");
      expect(await readAll(reading)).toEqual(v1);
    }));

  test("putFile moves a file on the same filesystem", () =>
    withStore(async ({ root, store }) => {
      const src = join(root, "..", `drover-src-${process.pid}`);
      await writeFile(src, "moved");
      expect(await store.putFile("pf", src)).toEqual({ size: 5, sha256: sha256Hex("moved") });
      expect(existsSync(src)).toBe(false);
      expect(await readdir(join(root, ".tmp"))).toEqual([]);
    }));

  for (const fsync of [true, false]) {
    test(`putFile with its size and digest known moves the file as it is (fsync ${fsync})`, () =>
      withStore(
        async ({ root, store }) => {
          const src = join(root, "..", `drover-known-${process.pid}-${fsync}`);
          await writeFile(src, "a live log");
          // what the caller says is taken, not measured again: a live log is not hashed
          const known = { size: 10, sha256: "" };
          expect(await store.putFile("logs/known", src, known)).toEqual(known);
          expect(existsSync(src)).toBe(false);
          expect(await readAll(await store.get("logs/known"))).toEqual(new TextEncoder().encode("a live log"));
          await expect(store.putFile("logs/missing", src, known)).rejects.toThrow();
        },
        { fsync },
      ));
  }

  // /dev/shm is a tmpfs, so a store there gets EXDEV from rename and must copy.
  const shm = existsSync("/dev/shm") ? "/dev/shm" : undefined;
  test.skipIf(!shm)("putFile copies a file from another filesystem", () =>
    withStore(
      async ({ root, store }) => {
        const src = join(tmpdir(), `drover-xdev-${process.pid}`);
        const bytes = pattern(MiB + 1, 7);
        await writeFile(src, bytes);
        try {
          expect((await stat(src)).dev).not.toBe((await stat(root)).dev);
          expect(await store.putFile("x/dev", src)).toEqual({ size: bytes.length, sha256: sha256Hex(bytes) });
          expect(await readAll(await store.get("x/dev"))).toEqual(bytes);
          expect(await readdir(join(root, ".tmp"))).toEqual([]);
        } finally {
          await rm(src, { force: true });
        }
      },
      {},
      shm,
    ));

  test("a 200 MiB streamed put stays within 64 MiB of RSS growth", () =>
    withStore(async ({ store }) => {
      const body = generated(200 * MiB, 256 * 1024);
      let result: unknown;
      const sample = await measure(200 * MiB, async () => {
        result = await store.put("mem/200m", body.stream);
      });
      console.log(`posix put 200 MiB: ${sample.mbPerS.toFixed(0)} MB/s, RSS +${sample.rssGrowthMiB.toFixed(1)} MiB`);
      expect(result).toEqual({ size: 200 * MiB, sha256: body.sha256() });
      expect(sample.rssGrowthMiB).toBeLessThan(64);
      expect((await hashStream(await store.get("mem/200m"))).sha256).toBe(body.sha256());
    }));
});

function readlinkSafe(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

test("a put that streams for a while gets disk space reserved ahead, and the object keeps none of it", () =>
  withStore(async ({ root, store }) => {
    const size = 24 * MiB;
    const body = generated(size, 256 * 1024);
    let passed = 0;
    // paced, so that the writer is seen mid-way as an upload over a network would be
    const paced = body.stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        async transform(chunk, out) {
          passed += chunk.byteLength;
          if (passed % (2 * MiB) === 0) await Bun.sleep(15);
          out.enqueue(chunk);
        },
      }),
    );
    let mostAhead = 0;
    const watching = setInterval(() => {
      for (const name of readdirSync(join(root, ".tmp"))) {
        try {
          const st = statSync(join(root, ".tmp", name));
          mostAhead = Math.max(mostAhead, st.blocks * 512 - st.size);
        } catch {
          // renamed into place meanwhile
        }
      }
    }, 3);
    try {
      await store.put("ws/paced", paced, { hash: false });
    } finally {
      clearInterval(watching);
    }
    expect(mostAhead).toBeGreaterThan(MiB);
    const path = join(root, "ws/paced");
    expect(statSync(path).size).toBe(size);
    expect(statSync(path).blocks * 512).toBeLessThan(size + 64 * 1024);
    expect(sha256Hex(await readAll(await store.get("ws/paced")))).toBe(body.sha256());
  }));

/**
 * `size` bytes of a MiB pattern made from `seed`, a MiB at a time, pausing a millisecond every `pauseEvery` bytes: a
 * producer at a network's pace, so that drop-behind's ticks see the file grow.
 */
function pacedBody(size: number, seed: number, pauseEvery: number): ReadableStream<Uint8Array> {
  const block = pattern(MiB, seed);
  let sent = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        if (sent >= size) return c.close();
        if (sent % pauseEvery === 0) await Bun.sleep(1);
        c.enqueue(block.slice());
        sent += MiB;
      },
    },
    { highWaterMark: 0 },
  );
}

describe("posix objects stay out of the page cache", () => {
  test("a streamed put leaves nothing cached; a slow HTTP reader gets every byte, and nothing stays cached either", () =>
    withStore(
      async ({ root, store }) => {
        const size = 48 * MiB;
        const body = generated(size, 256 * 1024);
        // hash: false is the runtime's native write, which drop-behind follows from outside
        await store.put("ws/a", body.stream, { hash: false });
        const path = join(root, "ws/a");
        expect(cachedBytes(path)).toBeLessThan(MiB);
        const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: async () => new Response(await store.body("ws/a")) });
        try {
          const res = await fetch(`http://127.0.0.1:${server.port}/`);
          const hash = new Bun.CryptoHasher("sha256");
          let got = 0;
          let chunks = 0;
          // pauses let the response fill up, so the reader's buffers are reused while writes wait
          for await (const chunk of res.body!) {
            hash.update(chunk);
            got += chunk.byteLength;
            if (++chunks % 16 === 0) await Bun.sleep(5);
          }
          expect(got).toBe(size);
          expect(hash.digest("hex")).toBe(body.sha256());
        } finally {
          server.stop(true);
        }
        expect(cachedBytes(path)).toBeLessThan(MiB);
      },
      // the store's default: the put syncs the object, then drops all of it
      { fsync: true },
    ));

  test("a download the client abandons midway stops reading and closes the object's file", () =>
    withStore(async ({ root, store }) => {
      await store.put("ws/c", generated(64 * MiB, 256 * 1024).stream, { hash: false });
      const path = join(root, "ws/c");
      const openOnIt = () => readdirSync("/proc/self/fd").filter((fd) => readlinkSafe(`/proc/self/fd/${fd}`) === path).length;
      const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: async () => new Response(await store.body("ws/c")) });
      try {
        const aborting = new AbortController();
        const res = await fetch(`http://127.0.0.1:${server.port}/`, { signal: aborting.signal });
        const reader = res.body!.getReader();
        await reader.read();
        expect(openOnIt()).toBe(1);
        aborting.abort();
        await reader.cancel().catch(() => {});
        await waitFor("the object's file to be closed", () => (openOnIt() === 0 ? true : undefined), 5_000);
      } finally {
        server.stop(true);
      }
    }));

  test("while a put streams, what has been written back leaves the cache (here without fsync)", () =>
    withStore(
      async ({ root, store }) => {
        const size = 96 * MiB;
        // The last segments may still be under writeback; the rest must be gone (all 96 MiB stay without drop-behind).
        // Pages still being written back are not dropped, and on a machine whose disk is loaded (CI seed 498710284)
        // none of a put's had been: up to three puts, one of which must leave less than half cached.
        const cached: number[] = [];
        for (let i = 0; i < 3 && !cached.some((bytes) => bytes < size / 2); i++) {
          await store.put(`ws/b${i}`, pacedBody(size, 7, MiB), { hash: false });
          cached.push(cachedBytes(join(root, `ws/b${i}`)));
        }
        expect(Math.min(...cached)).toBeLessThan(size / 2);
      },
      { fsync: false },
    ));

  test("a put a prefetching agent follows keeps every page it has yet to read cached, however far behind it is", () =>
    withStore(async ({ root, store }) => {
      // far more than the 128 MiB kept behind the writer for a live log's followers
      const size = 224 * MiB;
      // a reader that has read the first 32 MiB and no more while the upload went on
      const read = 32 * MiB;
      await store.put("ws/p", pacedBody(size, 3, 8 * MiB), { hash: false, watcher: { opened: () => {}, unreadFrom: read } });
      // before, all but the last 128 MiB (and what the reader had read) left the cache as the upload went on. The
      // kernel may still reclaim a few pages itself when memory runs short (CI seed 23617234: 1 MiB short of all).
      expect(cachedBytes(join(root, "ws/p"))).toBeGreaterThanOrEqual(size - read - 16 * MiB);
    }));
});

describe("openObjectStore", () => {
  test("opens posix stores from posix: specs and bare paths", () =>
    withStore(async ({ root }) => {
      expect(openObjectStore(root).kind).toBe("posix");
      expect(openObjectStore(`posix:${root}`, { fsync: false }).kind).toBe("posix");
    }));

  test("rejects unknown schemes and malformed s3 specs", () => {
    expect(() => openObjectStore("gs://bucket")).toThrow("unsupported");
    expect(() => openObjectStore("posix:")).toThrow("unsupported");
    expect(() => openObjectStore("s3://bucket/prefix")).toThrow("expected s3://bucket");
    expect(() => openObjectStore("s3://bucket?endpoit=http://x")).toThrow("unknown parameter");
    expect(() => openObjectStore("s3://bucket?forcePathStyle=yes")).toThrow("forcePathStyle");
  });
});
