import { background } from "../../shared/background.ts";
import type { Bus } from "../bus/bus.ts";
import type { Scheduler } from "./scheduler.ts";

/**
 * Keeps this node's memory of unfinished runs in step with the other nodes': a run changed on another node is
 * read again when the bus brings its hint (the server's `Polling` reads them all when hints may be missed).
 * A node alone in its cluster sends no hints.
 */
export class RunSync {
  private readonly pending = new Set<string>();

  constructor(
    private readonly scheduler: Scheduler,
    bus: Bus,
    node: string,
    /** how many other nodes are alive */
    peers: () => number,
  ) {
    bus.subscribe("run_changed", (hint) => {
      if (hint.from !== node) this.hinted(hint.runId);
    });
    scheduler.announce = (runId) => {
      if (peers() > 0) bus.publish({ kind: "run_changed", runId, from: node });
    };
  }

  /** Hints that arrive together are read in one pass. */
  private hinted(runId: string): void {
    if (this.pending.size === 0) {
      setImmediate(() =>
        background(
          "read runs",
          this.scheduler.serial.run(async () => {
            const ids = [...this.pending];
            this.pending.clear();
            for (const id of ids) await this.scheduler.read(id);
          }),
        ),
      );
    }
    this.pending.add(runId);
  }
}
