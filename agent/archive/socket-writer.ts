import type { Socket } from "bun";

/** Writes in order, keeping what the socket did not take until it drains. */
export class SocketWriter {
  /** what the socket has not taken yet, and whom to tell once it has */
  private readonly queue: { rest: Uint8Array; taken?: () => void }[] = [];
  private queued = 0;
  private waiting: { below: number; resolve: () => void } | null = null;

  constructor(private readonly socket: Socket<undefined>) {}

  /** Writes `bytes` after what is queued; `taken` is called once the socket has all of them. */
  write(bytes: Uint8Array | string, taken?: () => void): void {
    const data = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes;
    const rest = this.queue.length === 0 ? this.send(data) : data;
    if (rest.length === 0) taken?.();
    else {
      this.queue.push({ rest, taken });
      this.queued += rest.length;
    }
  }

  /** What is left of `data` after writing what the socket takes now. */
  private send(data: Uint8Array): Uint8Array {
    const n = this.socket.write(data);
    return n >= data.length ? data.subarray(data.length) : data.subarray(Math.max(n, 0));
  }

  drained(): void {
    while (this.queue.length > 0) {
      const first = this.queue[0]!;
      const rest = this.send(first.rest);
      this.queued -= first.rest.length - rest.length;
      if (rest.length > 0) {
        first.rest = rest;
        break;
      }
      this.queue.shift();
      first.taken?.();
    }
    if (this.waiting && this.queued <= this.waiting.below) {
      this.waiting.resolve();
      this.waiting = null;
    }
  }

  /** Resolves once no more than `bytes` wait for the socket. */
  below(bytes: number): Promise<void> {
    if (this.queued <= bytes) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting = { below: bytes, resolve };
    });
  }
}
