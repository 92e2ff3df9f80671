const MARK = Buffer.from("[REDACTED]");
const EMPTY = Buffer.alloc(0);
/** Values this short would blank out ordinary output; they are not treated as secrets. */
const MIN_SECRET_LENGTH = 3;
const SECRET_NAME = /(_TOKEN|_SECRET|_PASSWORD|_KEY)$/;

/** Values of variables marked secret, and of env vars whose names say they are secrets. */
export function secretValues(env: Record<string, string>, marked: string[] = []): string[] {
  const named = Object.entries(env)
    .filter(([k]) => SECRET_NAME.test(k))
    .map(([, v]) => v);
  return [...new Set([...marked, ...named])].filter((v) => v.length >= MIN_SECRET_LENGTH);
}

/**
 * Replaces secret values in a byte stream with [REDACTED], also when a value is
 * split across chunks: only a tail that could still be the start of a secret is
 * held back, so ordinary output is not delayed.
 */
export class Redactor {
  private readonly secrets: Buffer[];
  private pending = EMPTY;

  constructor(values: string[]) {
    // longest first, so a secret containing another is replaced whole
    this.secrets = values.map((v) => Buffer.from(v)).sort((a, b) => b.length - a.length);
  }

  /** The result may share `chunk`'s memory: use it before the chunk is overwritten. */
  push(chunk: Uint8Array): Uint8Array {
    if (this.secrets.length === 0) return chunk;
    const buf = this.pending.length
      ? Buffer.concat([this.pending, chunk])
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: Buffer[] = [];
    let from = 0;
    for (;;) {
      let at = -1;
      let length = 0;
      for (const s of this.secrets) {
        const i = buf.indexOf(s, from);
        if (i >= 0 && (at < 0 || i < at)) {
          at = i;
          length = s.length;
        }
      }
      if (at < 0) break;
      out.push(buf.subarray(from, at), MARK);
      from = at + length;
    }
    const hold = this.partialTail(buf, from);
    out.push(buf.subarray(from, buf.length - hold));
    // Only the held tail outlives this call (the caller may reuse chunk's memory), so only it is copied.
    this.pending = hold ? Buffer.from(buf.subarray(buf.length - hold)) : EMPTY;
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** Output held back at the end of the stream cannot complete a secret any more. */
  flush(): Uint8Array {
    const rest = this.pending;
    this.pending = EMPTY;
    return rest;
  }

  /** Length of the longest tail of buf[from..] that is a proper prefix of some secret. */
  private partialTail(buf: Buffer, from: number): number {
    const available = buf.length - from;
    let hold = 0;
    for (const s of this.secrets) {
      for (let k = Math.min(s.length - 1, available); k > hold; k--) {
        if (buf.subarray(buf.length - k).equals(s.subarray(0, k))) {
          hold = k;
          break;
        }
      }
    }
    return hold;
  }
}
