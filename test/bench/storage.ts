import { randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { startS3rver } from "../helpers/s3rver.ts";
import { type Benchmark, type Figure, MiB, round } from "./lib.ts";
import { logFollow } from "./log-follow.ts";
import { workspace } from "./workspace.ts";

const OBJECT_BYTES = 256 * MiB;
const CHUNK = MiB;

/** 256 MiB of incompressible bytes in 1 MiB chunks, each its own buffer (a store may hold on to one). */
function generated(): ReadableStream<Uint8Array> {
  const random = randomFillSync(new Uint8Array(CHUNK));
  let sent = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (sent === OBJECT_BYTES) return c.close();
        const chunk = random.slice();
        new DataView(chunk.buffer).setUint32(0, sent / CHUNK);
        sent += CHUNK;
        c.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Put then get 256 MiB through a store, in MiB/s each way. */
async function putGet(spec: string, opts: { fsync?: boolean } = {}): Promise<{ put: number; get: number }> {
  const store = openObjectStore(spec, opts);
  const key = "bench/object";
  let t0 = performance.now();
  const { size } = await store.put(key, generated());
  const put = OBJECT_BYTES / MiB / ((performance.now() - t0) / 1000);
  if (size !== OBJECT_BYTES) throw new Error(`put stored ${size} bytes, expected ${OBJECT_BYTES}`);
  t0 = performance.now();
  const body = await store.get(key);
  if (!body) throw new Error("the object just put is missing");
  let read = 0;
  for await (const part of body) read += part.byteLength;
  const get = OBJECT_BYTES / MiB / ((performance.now() - t0) / 1000);
  if (read !== OBJECT_BYTES) throw new Error(`get returned ${read} bytes, expected ${OBJECT_BYTES}`);
  await store.delete(key);
  return { put, get };
}

async function posix() {
  const dir = mkdtempSync(join(tmpdir(), "drover-bench-posix-"));
  try {
    return await putGet(`posix:${dir}`, { fsync: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function s3() {
  const server = await startS3rver("drover-bench");
  try {
    return await putGet(server.spec);
  } finally {
    await server.stop();
  }
}

export const storage: Benchmark = {
  name: "storage",
  async run() {
    const p = await posix();
    const s = await s3();
    const rate = (value: number, extra: Partial<Figure> = {}): Figure => ({ value: round(value, 1), unit: "MiB/s", ...extra });
    return {
      posix_mb_s: rate(p.put, { target: "(no target; fsync on)" }),
      posix_get_mb_s: rate(p.get),
      s3_mb_s: rate(s.put, { target: "(no target; s3rver, itself slow)" }),
      s3_get_mb_s: rate(s.get),
      ...(await workspace()),
      ...(await logFollow()),
    };
  },
};
