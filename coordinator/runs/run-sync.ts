import { background } from "../../shared/background.ts";
import type { Bus } from "../bus/bus.ts";
import type { Scheduler } from "./scheduler.ts";

/** At most this many attempts are named in one hint. */
const MAX_NAMED = 100;

/**
 * Keeps this node's memory of unfinished runs in step with the other nodes': a run changed on another node is
 * read again when the bus brings its hint (the server's `Polling` reads them all when hints may be missed).
 * A node alone in its cluster sends no hints.
 */
export class RunSync {
  /** runs hinted since the last pass, with the attempts named (null: read the whole run) */
  private readonly pending = new Map<string, Set<string> | null>();

  constructor(
    private readonly scheduler: Scheduler,
    bus: Bus,
    node: string,
    /** how many other nodes are alive */
    peers: () => number,
  ) {
    bus.subscribe("run_changed", (hint) => {
      if (hint.from !== node) this.hinted(hint.runId, hint.attempts);
    });
    scheduler.announce = (runId, attempts) => {
      if (peers() === 0) return;
      // a long list is not worth its bytes: the receivers read the whole run instead
      const named = attempts && attempts.length <= MAX_NAMED ? attempts : undefined;
      bus.publish({ kind: "run_changed", runId, from: node, ...(named ? { attempts: named } : {}) });
    };
  }

  /** Hints that arrive together are read in one pass. */
  private hinted(runId: string, attempts: string[] | undefined): void {
    if (this.pending.size === 0) {
      setImmediate(() =>
        background(
          "read runs",
          this.scheduler.serial.run(async () => {
            const hinted = [...this.pending];
            this.pending.clear();
            for (const [id, named] of hinted) {
              if (named) await this.scheduler.readAttempts(id, [...named]);
              else await this.scheduler.read(id);
            }
          }),
        ),
      );
    }
    const known = this.pending.get(runId);
    if (!attempts || known === null) this.pending.set(runId, null);
    else this.pending.set(runId, new Set([...(known ?? []), ...attempts]));
  }
}
