import { closeSync, fstatSync, openSync } from "node:fs";
import type { PutWatcher } from "../store/object-store.ts";
import type { Growing } from "../store/uncached-stream.ts";

/** How often a follower that has caught up with the writer looks at the file's size again. */
const LOOK_EVERY_MS = 10;
/**
 * What a follower waits for past its position while the upload goes on: read as soon as any byte was
 * there, the pieces were a few KiB each, and every piece costs a write and a chunk on both sides.
 */
const AT_LEAST = 1024 * 1024;

/**
 * One workspace upload that an agent was asked to prefetch: the store tells it which file it writes (opened
 * here at once, so the follower reads that very file even after it is renamed into place or removed), the
 * upload's route tells it how the upload ended, and the follower reads up to where the file is and, once the
 * upload is stored and recorded, to its end. A failed upload makes the follower's response break off.
 */
export class FollowedUpload implements PutWatcher, Growing {
  unreadFrom = 0;
  private fd: number | null = null;
  private taken = false;
  private outcome: { size: number } | { failure: Error } | null = null;
  private wake: () => void = () => {};

  constructor(private readonly onEnd: () => void) {}

  opened(path: string): void {
    this.fd = openSync(path, "r");
  }

  /** The upload is stored and recorded at `size` bytes. */
  stored(size: number): void {
    this.outcome ??= { size };
    this.wake();
  }

  failed(failure: Error): void {
    this.outcome ??= { failure };
    this.wake();
    this.release();
  }

  /** The descriptor for the one follower; null when the store opened no file or someone took it already. */
  take(): number | null {
    if (this.taken || this.fd === null) return null;
    this.taken = true;
    return this.fd;
  }

  async beyond(position: number): Promise<number> {
    for (;;) {
      const outcome = this.outcome;
      if (outcome && "failure" in outcome) throw outcome.failure;
      const size = fstatSync(this.fd!).size;
      if (size >= position + AT_LEAST || (outcome && size > position)) return size;
      if (outcome) {
        if (position !== outcome.size) throw new Error(`the upload was stored at ${outcome.size} bytes, its file holds ${position}`);
        return position;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, LOOK_EVERY_MS);
      });
    }
  }

  read(position: number): void {
    this.unreadFrom = position;
  }

  /** The follower is done (it closed the descriptor it took). */
  end(): void {
    this.fd = null;
    this.unreadFrom = Number.POSITIVE_INFINITY;
    this.onEnd();
  }

  /** Unless a follower took it: the descriptor closes and the grant goes. */
  release(): void {
    if (this.taken) return;
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.taken = true;
    this.unreadFrom = Number.POSITIVE_INFINITY;
    this.onEnd();
  }
}
