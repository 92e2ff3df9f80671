import { background } from "../../shared/background.ts";
import { type Bus, LocalBus } from "../bus/bus.ts";
import type { Scheduler } from "./scheduler.ts";

/** With hints crossing nodes, a poll still runs this often: a hint may be lost. */
const SAFETY_POLL_MS = 10_000;
/** Without hints from other nodes (no NATS, or NATS down), the database is read at most this often. */
const POLL_MS = 1000;

/**
 * Keeps this node's memory of unfinished runs in step with the other nodes': a run changed on another node is
 * read again when the bus brings its hint, and all of them are read by polling when hints cannot arrive.
 * A node alone in its cluster neither sends hints nor polls.
 */
export class RunSync {
  private readonly pending = new Set<string>();
  private lastPoll = Date.now();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly bus: Bus,
    private readonly node: string,
    /** how many other nodes are alive */
    private readonly peers: () => number,
  ) {
    bus.subscribe("run_changed", (hint) => {
      if (hint.from !== node) this.hinted(hint.runId);
    });
    scheduler.announce = (runId) => {
      if (this.peers() > 0) bus.publish({ kind: "run_changed", runId, from: node });
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

  /** At each beat: the run leases, and a poll when it is due. */
  async beat(now = Date.now()): Promise<void> {
    await this.scheduler.holdRuns();
    if (this.peers() === 0) return;
    const hintsCross = !(this.bus instanceof LocalBus) && this.bus.live;
    if (now - this.lastPoll < (hintsCross ? SAFETY_POLL_MS : POLL_MS)) return;
    this.lastPoll = now;
    await this.scheduler.serial.run(() => this.scheduler.readAll());
  }
}
