import type { PrefetchHint } from "../../shared/protocol/prefetch.ts";
import { extractInto } from "./extract.ts";
import type { KeptWorkspaces } from "./kept.ts";
import { KeptSink } from "./kept-sink.ts";

/** Prefetches under way at once; a hint that comes while they run is let go (the restore downloads). */
const AT_ONCE = 1;
/** How long a follow may bring nothing before it is given up. */
export interface StallLimits {
  /** while the upload may still be under way: an upload in progress sends more than that */
  uploadingMs: number;
  /**
   * once a restore takes the copy: the restoring task runs only after the upload was stored whole, so the rest
   * of it comes at once, and a restore waiting longer downloads instead
   */
  restoringMs: number;
}
const STALL_LIMITS: StallLimits = { uploadingMs: 60_000, restoringMs: 5_000 };

/** Opens the archive a grant names, as it is written (prefetch-client.ts). */
export type FollowUpload = (grant: string, signal: AbortSignal) => Promise<AsyncIterable<Uint8Array>>;

/**
 * Follows workspace uploads the coordinator hints at (shared/protocol/prefetch.ts) into kept copies
 * (kept.ts), which a restore of the same object on this agent then moves into place. A copy counts
 * against the kept-workspaces budget as it is written, and is kept only when the coordinator's answer
 * ended cleanly, which it does once the upload is stored and recorded; a restore also checks the copy
 * came from as many bytes as the stored archive has. Anything else discards it.
 */
export class Prefetcher {
  private readonly running = new Set<AbortController>();

  constructor(
    private readonly kept: KeptWorkspaces,
    private readonly follow: FollowUpload,
    private readonly log: (line: string) => void,
    private readonly stall: StallLimits = STALL_LIMITS,
  ) {}

  start(hint: PrefetchHint): void {
    if (this.running.size >= AT_ONCE) return;
    const into = this.kept.startPrefetch(hint.object);
    if (!into) return;
    const control = new AbortController();
    this.running.add(control);
    this.fetch(hint.grant, new KeptSink(into.keeping, into.room, into.progress), control, into.claimed)
      .then(
        (size) => {
          this.log(`prefetched ${hint.object}: ${into.keeping.entries.length} entries from ${size} bytes of archive`);
          into.finish(size);
        },
        (e) => {
          this.log(`prefetch of ${hint.object} dropped: ${(e as Error).message}`);
          into.finish(null);
        },
      )
      .finally(() => this.running.delete(control));
  }

  /** Writes the followed archive into `sink`; how many bytes of archive it read. */
  private async fetch(grant: string, sink: KeptSink, control: AbortController, restoring: () => boolean): Promise<number> {
    let size = 0;
    let last = Date.now();
    const watch = setInterval(
      () => {
        const limit = restoring() ? this.stall.restoringMs : this.stall.uploadingMs;
        if (Date.now() - last > limit) control.abort(new Error(`nothing came for ${Math.round(limit / 1000)} s`));
      },
      Math.min(this.stall.uploadingMs, this.stall.restoringMs) / 5,
    );
    try {
      const body = await this.follow(grant, control.signal);
      async function* counted(): AsyncGenerator<Uint8Array> {
        for await (const chunk of body) {
          size += chunk.length;
          last = Date.now();
          yield chunk;
        }
      }
      await extractInto(counted(), sink);
      return size;
    } finally {
      clearInterval(watch);
    }
  }

  /** Ends every prefetch (the agent is leaving); their copies are discarded. */
  stop(): void {
    for (const control of this.running) control.abort(new Error("the agent is stopping"));
  }
}
