import { randomUUID } from "node:crypto";
import { type Dirent, mkdirSync } from "node:fs";
import { type FileHandle, mkdir, open, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  type ByteRange,
  checkKey,
  checkPrefix,
  checkRange,
  DEFAULT_MAX_UNKNOWN_SIZE_BYTES,
  InvalidKeyError,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type ObjectStoreOptions,
  type PutResult,
} from "./object-store.ts";
import { limitFor, metered } from "./streams.ts";

const TMP = ".tmp";
const READ_CHUNK = 256 * 1024;

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR";
}

/** Objects are files under `root`; writes go to `root/.tmp` and are renamed into place, so readers never see partial objects. */
export class PosixObjectStore implements ObjectStore {
  readonly kind = "posix";
  private readonly tmpDir: string;
  private readonly fsync: boolean;
  private readonly maxUnknown: number;

  constructor(
    readonly root: string,
    opts: ObjectStoreOptions = {},
  ) {
    this.tmpDir = join(root, TMP);
    this.fsync = opts.fsync ?? true;
    this.maxUnknown = opts.maxUnknownSizeBytes ?? DEFAULT_MAX_UNKNOWN_SIZE_BYTES;
    mkdirSync(this.tmpDir, { recursive: true });
  }

  async put(key: string, body: ObjectBody, opts: { maxBytes?: number } = {}): Promise<PutResult> {
    const meter = metered(key, body, limitFor(body, opts.maxBytes, this.maxUnknown));
    const tmp = join(this.tmpDir, randomUUID());
    let fh: FileHandle | undefined;
    try {
      const dest = this.pathOf(key);
      fh = await open(tmp, "wx");
      for await (const chunk of meter.stream) await writeAll(fh, chunk);
      if (this.fsync) await fh.sync();
      await fh.close();
      fh = undefined;
      await this.moveIntoPlace(tmp, dest);
      return meter.result();
    } catch (err) {
      await fh?.close().catch(() => {});
      await rm(tmp, { force: true });
      await meter.stream.cancel(err).catch(() => {});
      throw err;
    }
  }

  async putFile(key: string, path: string, known?: PutResult): Promise<PutResult> {
    const dest = this.pathOf(key);
    const fh = await open(path, "r");
    // The file is renamed, not copied, so it must be durable before it becomes the object.
    if (this.fsync) await closeOnError(fh, fh.sync());
    let result: () => PutResult;
    if (known) {
      await fh.close();
      result = () => known;
    } else {
      const meter = metered(key, readStream(fh, 0, Number.POSITIVE_INFINITY), Number.POSITIVE_INFINITY);
      await meter.stream.pipeTo(new WritableStream());
      result = () => meter.result();
    }
    try {
      await this.moveIntoPlace(path, dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      return this.put(key, Bun.file(path).stream(), { maxBytes: Number.POSITIVE_INFINITY });
    }
    return result();
  }

  async get(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array> | null> {
    checkRange(range);
    let fh: FileHandle;
    try {
      fh = await open(this.pathOf(key), "r");
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    // Reading through the open descriptor keeps serving this version even if
    // the key is overwritten or deleted meanwhile.
    const info = await closeOnError(fh, fh.stat());
    if (!info.isFile()) {
      await fh.close();
      return null;
    }
    return readStream(fh, range?.start ?? 0, Math.min(range?.end ?? info.size, info.size));
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? { key, size: info.size, modifiedAt: Math.floor(info.mtimeMs) } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    yield* this.walk(prefix.slice(0, prefix.lastIndexOf("/") + 1), prefix);
  }

  // Sorting directories as "name/" yields keys in the same byte order S3 lists them.
  private async *walk(dirKey: string, prefix: string): AsyncGenerator<ObjectInfo> {
    let entries: Dirent[];
    try {
      entries = await readdir(join(this.root, dirKey), { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    const names = entries
      .filter((e) => (e.isFile() || e.isDirectory()) && !(dirKey === "" && e.name === TMP))
      .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
      .sort();
    for (const name of names) {
      const key = dirKey + name;
      if (!key.startsWith(prefix)) continue;
      if (name.endsWith("/")) yield* this.walk(key, prefix);
      else {
        const info = await this.stat(key);
        if (info) yield info;
      }
    }
  }

  private pathOf(key: string): string {
    if (checkKey(key).split("/", 1)[0] === TMP) throw new InvalidKeyError(key);
    return join(this.root, key);
  }

  private async moveIntoPlace(from: string, dest: string): Promise<void> {
    await mkdir(dirname(dest), { recursive: true });
    await rename(from, dest);
    if (this.fsync) await syncDir(dirname(dest));
  }
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let off = 0; off < chunk.byteLength; ) {
    off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function closeOnError<T>(fh: FileHandle, pending: Promise<T>): Promise<T> {
  return pending.catch(async (err) => {
    await fh.close().catch(() => {});
    throw err;
  });
}

/** Streams [start, end) of an open file and closes it when done, failed or cancelled. */
function readStream(fh: FileHandle, start: number, end: number): ReadableStream<Uint8Array> {
  let pos = start;
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        const want = Math.min(READ_CHUNK, end - pos);
        const buf = new Uint8Array(Math.max(want, 0));
        const { bytesRead } = want > 0 ? await closeOnError(fh, fh.read(buf, 0, want, pos)) : { bytesRead: 0 };
        if (bytesRead === 0) {
          await fh.close();
          return c.close();
        }
        pos += bytesRead;
        c.enqueue(buf.subarray(0, bytesRead));
      },
      cancel: () => fh.close(),
    },
    { highWaterMark: 0 },
  );
}
