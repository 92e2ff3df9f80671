import { background } from "../../shared/background.ts";
import type { Bus } from "../bus/bus.ts";
import type { Scheduler } from "./scheduler.ts";

/** At most this many attempts are named in one hint. */
const MAX_NAMED = 100;

/** Runs changed, each with the attempts named (an empty set: its row alone; null: the whole run). */
type Changes = Map<string, Set<string> | null>;

/** Adds one change to `changes`: a change of the whole run covers any list. */
function add(changes: Changes, runId: string, attempts: string[] | undefined): void {
  const known = changes.get(runId);
  if (!attempts || known === null) changes.set(runId, null);
  else if (known) for (const a of attempts) known.add(a);
  else changes.set(runId, new Set(attempts));
}

/**
 * Keeps this node's memory of unfinished runs in step with the other nodes': a run changed on another node is
 * read again when the bus brings its hint (the server's `Polling` reads them all when hints may be missed).
 * Changes made in one turn of the event loop go out as one hint per run (an agent's reports arrive in groups), and
 * hints that arrive together are read in one pass. A node alone in its cluster sends no hints.
 */
export class RunSync {
  /** runs hinted since the last pass */
  private readonly pending: Changes = new Map();
  /** runs changed here in this turn, not yet hinted */
  private readonly outbox: Changes = new Map();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly bus: Bus,
    private readonly node: string,
    /** how many other nodes are alive */
    peers: () => number,
  ) {
    bus.subscribe("run_changed", (hint) => {
      if (hint.from !== node) this.hinted(hint.runId, hint.attempts);
    });
    scheduler.announce = (runId, attempts) => {
      if (peers() === 0) return;
      if (this.outbox.size === 0) setImmediate(() => this.send());
      add(this.outbox, runId, attempts);
    };
  }

  private send(): void {
    for (const [runId, named] of this.outbox) {
      // a long list is not worth its bytes: the receivers read the whole run instead
      const attempts = named && named.size <= MAX_NAMED ? [...named] : undefined;
      this.bus.publish({ kind: "run_changed", runId, from: this.node, ...(attempts ? { attempts } : {}) });
    }
    this.outbox.clear();
  }

  private hinted(runId: string, attempts: string[] | undefined): void {
    if (this.pending.size === 0) {
      setImmediate(() =>
        background(
          "read runs",
          this.scheduler.serial.run(async () => {
            const hinted = [...this.pending];
            this.pending.clear();
            for (const [id, named] of hinted) {
              if (!this.scheduler.active.has(id)) this.scheduler.leaveUnread(id);
              else if (named) await this.scheduler.readAttempts(id, [...named]);
              else await this.scheduler.read(id);
            }
          }),
        ),
      );
    }
    add(this.pending, runId, attempts);
  }
}
