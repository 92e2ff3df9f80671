import type { DirectTransfers } from "./direct.ts";

export interface ObjectInfo {
  key: string;
  size: number;
  modifiedAt: number;
}

export interface PutResult {
  size: number;
  /** hex; empty when the put was asked not to hash (objects nobody checks by checksum) */
  sha256: string;
}

export type ObjectBody = ReadableStream<Uint8Array> | Uint8Array | string;

export interface PutOptions {
  /** Cap on the body's size; streams default to the store's cap for bodies of unknown size. */
  maxBytes?: number;
  /** Aborting fails the put (nothing is stored), even while it waits for the body's next bytes. */
  signal?: AbortSignal;
  /** false skips the sha256 (a third of the coordinator's work on a large upload) */
  hash?: boolean;
  /** a reader following the file as it is written (a prefetch); only a posix store's native write has one to follow */
  watcher?: PutWatcher;
}

/** A reader of a streamed put's file while it is written (coordinator/fleet/prefetches.ts). */
export interface PutWatcher {
  /** the file being written, as soon as it is made */
  opened(path: string): void;
  /** where the reader is: from here on the file stays in the page cache for it (posix.ts) */
  readonly unreadFrom: number;
}

/** Byte range of an object; `end` is exclusive and clamped to the object's size. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface ObjectStore {
  readonly kind: "posix" | "s3";
  /** Present when clients may move bytes straight to and from the store by presigned URLs (S3). */
  readonly direct?: DirectTransfers;
  /** Stores the whole body or nothing: a failed put leaves any previous object under `key` untouched. */
  put(key: string, body: ObjectBody, opts?: PutOptions): Promise<PutResult>;
  /**
   * The source file may be moved into the store; the caller should not rely on it afterwards.
   * `known` is the file's size and hash when the caller computed them while writing it, sparing a re-read.
   */
  putFile(key: string, path: string, known?: PutResult): Promise<PutResult>;
  /** null when the object is missing. */
  get(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array> | null>;
  /** The whole object as an HTTP response body (a posix store's file is sent by the kernel); null when missing. */
  body(key: string): Promise<Blob | ReadableStream<Uint8Array> | null>;
  stat(key: string): Promise<ObjectInfo | null>;
  /** Deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Objects whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
}

export interface ObjectStoreOptions {
  /** posix only: false skips fsync, for throwaway stores. */
  fsync?: boolean;
  /** Cap for streamed bodies when put() is given no maxBytes. */
  maxUnknownSizeBytes?: number;
}

export const DEFAULT_MAX_UNKNOWN_SIZE_BYTES = 1024 ** 3;

export class ObjectTooLargeError extends Error {
  override readonly name = "ObjectTooLargeError";
  constructor(
    readonly key: string,
    readonly maxBytes: number,
  ) {
    super(`object ${key} is larger than ${maxBytes} bytes`);
  }
}

export class InvalidKeyError extends Error {
  override readonly name = "InvalidKeyError";
  constructor(readonly key: string) {
    super(`invalid object key ${JSON.stringify(key)}`);
  }
}

// Keys become file paths on posix, so both stores refuse anything that could
// escape the root or alias another key; a key is then valid on either backend.
function validPath(path: string): boolean {
  return !path.includes("\0") && path.split("/").every((s) => s !== "" && s !== "." && s !== "..");
}

export function checkKey(key: string): string {
  if (!validPath(key)) throw new InvalidKeyError(key);
  return key;
}

/** A prefix may end in a partial segment ("logs/ab") or a slash ("logs/"). */
export function checkPrefix(prefix: string): string {
  const dir = prefix.slice(0, prefix.lastIndexOf("/") + 1);
  if (dir !== "" && !validPath(dir.slice(0, -1))) throw new InvalidKeyError(prefix);
  return prefix;
}

export function checkRange(range: ByteRange | undefined): void {
  if (!range) return;
  const ok = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!ok(range.start) || (range.end !== undefined && !ok(range.end))) {
    throw new RangeError(`invalid byte range ${JSON.stringify(range)}`);
  }
}
