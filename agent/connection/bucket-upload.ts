import type { UploadComplete, UploadPlan, UploadTarget } from "../../shared/protocol/archive-api.ts";
import { FilesError } from "./files-error.ts";

type BucketPlan = Extract<UploadPlan, { via: "bucket" }>;

/** What sending to the bucket needs from the coordinator (signing, bookkeeping) and from the network. */
export interface BucketSession {
  /** a presigned URL for a single PUT of `size` bytes, or for part `part.number` */
  url(size: number, part?: { uploadId: string; number: number }): Promise<string>;
  startMultipart(): Promise<string>;
  abort(uploadId: string): Promise<void>;
  /** PUTs the bytes to a presigned URL (retrying what is worth it); the bucket's ETag */
  put(url: string, bytes: Uint8Array, what: string): Promise<string>;
}

/**
 * Cuts a stream into parts of exactly the plan's part size (the last one shorter), refusing one past its limit. Two buffers take turns, so
 * one part can be on its way while the next is read, and no more than two parts are ever in memory.
 */
class PartReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly buffers: Uint8Array[] = [];
  private turn = 0;
  private leftover: Uint8Array | null = null;
  private ended = false;
  private readonly hasher: Bun.CryptoHasher | null;
  total = 0;

  private readonly size: number;

  constructor(
    stream: ReadableStream<Uint8Array>,
    private readonly plan: BucketPlan,
    hash: boolean,
  ) {
    this.size = plan.partSize;
    this.reader = stream.getReader();
    this.hasher = hash ? new Bun.CryptoHasher("sha256") : null;
  }

  async next(): Promise<Uint8Array> {
    this.turn ^= 1;
    // large allocations are zero pages until written: a small archive costs no more than its bytes
    this.buffers[this.turn] ??= new Uint8Array(this.size);
    const buffer = this.buffers[this.turn]!;
    let filled = 0;
    while (filled < this.size) {
      if (!this.leftover) {
        if (this.ended) break;
        const { done, value } = await this.reader.read();
        if (done) {
          this.ended = true;
          break;
        }
        this.leftover = value;
      }
      const take = Math.min(this.leftover.length, this.size - filled);
      buffer.set(this.leftover.subarray(0, take), filled);
      filled += take;
      this.leftover = take < this.leftover.length ? this.leftover.subarray(take) : null;
    }
    const part = buffer.subarray(0, filled);
    this.hasher?.update(part);
    this.total += filled;
    const { object, maxBytes } = this.plan;
    if (this.total > maxBytes) throw new FilesError(413, "too_large", `${object} is larger than the coordinator's object size limit of ${maxBytes} bytes`);
    return part;
  }

  sha256(): string {
    return this.hasher?.digest("hex") ?? "";
  }
}

/**
 * Sends a body to the bucket as the plan says: one PUT when it fits in a part, else a multipart upload
 * whose parts go one at a time while the next is read. Returns what the coordinator is to be told; an
 * upload that fails is aborted (best effort: the coordinator's GC aborts what is left behind).
 */
export async function sendToBucket(
  session: BucketSession,
  target: UploadTarget,
  body: ReadableStream<Uint8Array>,
  plan: BucketPlan,
  knownSize?: number,
): Promise<UploadComplete> {
  const parts = new PartReader(body, plan, target.kind === "artifact");
  const first = await parts.next();
  const second = first.length === plan.partSize ? await parts.next() : new Uint8Array(0);
  if (second.length === 0) {
    const url = plan.url && knownSize === first.length ? plan.url : await session.url(first.length);
    await session.put(url, first, plan.object);
    return { target, size: first.length, sha256: parts.sha256() };
  }
  const uploadId = await session.startMultipart();
  try {
    const done: { part: number; etag: string }[] = [];
    let current: Uint8Array | null = first;
    let queued: Uint8Array | null = second;
    for (let number = 1; current; number++) {
      const bytes: Uint8Array = current;
      const sending = session.url(bytes.length, { uploadId, number }).then((url) => session.put(url, bytes, `part ${number} of ${plan.object}`));
      // the next part is read while this one is on its way; a failed send is seen when awaited
      sending.catch(() => {});
      let following: Uint8Array;
      try {
        following = queued ?? (await parts.next());
      } catch (e) {
        await sending.catch(() => {});
        throw e;
      }
      queued = null;
      done.push({ part: number, etag: await sending });
      current = following.length > 0 ? following : null;
    }
    return { target, size: parts.total, sha256: parts.sha256(), multipart: { uploadId, parts: done } };
  } catch (e) {
    await session.abort(uploadId).catch(() => {});
    throw e;
  }
}
