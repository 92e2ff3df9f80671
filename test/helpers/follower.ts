import { createHash } from "node:crypto";
import { ADMIN_TOKEN } from "./cluster.ts";

/** A reader of a followed log that keeps only a digest of it, so hundreds of megabytes cost no memory. */
export interface Follower {
  /** bytes received so far */
  readonly bytes: number;
  /** when the follower first held at least `n` bytes (ms since the epoch), or undefined */
  reached(n: number): number | undefined;
  /** Stops reading (the stream backs up to the server) until `resume`. */
  pause(): void;
  resume(): void;
  /** the whole answer: status, length and sha256 */
  done: Promise<{ status: number; bytes: number; sha256: string }>;
}

/**
 * Follows `base + path` (a step's log with `?follow=1`), hashing what comes. `marks` are byte counts whose
 * arrival time is recorded.
 */
export function follow(base: string, path: string, marks: number[] = []): Follower {
  const hash = createHash("sha256");
  const times = new Map<number, number>();
  let bytes = 0;
  let paused = null as { promise: Promise<void>; resolve: () => void } | null;
  const done = (async () => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (res.status !== 200) return { status: res.status, bytes: 0, sha256: await res.text() };
    for await (const chunk of res.body!) {
      hash.update(chunk);
      bytes += chunk.length;
      for (const m of marks) if (bytes >= m && !times.has(m)) times.set(m, Date.now());
      if (paused) await paused.promise;
    }
    return { status: res.status, bytes, sha256: hash.digest("hex") };
  })();
  return {
    get bytes() {
      return bytes;
    },
    reached: (n) => times.get(n),
    pause() {
      if (paused) return;
      let resolve = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      paused = { promise, resolve };
    },
    resume() {
      paused?.resolve();
      paused = null;
    },
    done,
  };
}

/** `seq FROM TO`'s output, as the step prints it. */
export const seqText = (from: number, to: number) => {
  const lines: string[] = [];
  for (let i = from; i <= to; i++) lines.push(`${i}\n`);
  return lines.join("");
};

/** The length and sha256 of `seq 1 N`'s output, made a megabyte at a time. */
export function seqDigest(n: number): { bytes: number; sha256: string } {
  const hash = createHash("sha256");
  let bytes = 0;
  for (let from = 1; from <= n; from += 100_000) {
    const part = Buffer.from(seqText(from, Math.min(n, from + 99_999)));
    hash.update(part);
    bytes += part.length;
  }
  return { bytes, sha256: hash.digest("hex") };
}
