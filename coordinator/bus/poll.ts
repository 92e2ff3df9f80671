import { type Bus, LocalBus } from "./bus.ts";

export interface PollingOptions {
  /** how many other nodes share the database now */
  peers: () => number;
  /** the re-read's period while hints may be missed */
  everyMs?: number;
  /** the re-read's period while the bus is live and other nodes exist: a node cut off from NATS alone still loses hints */
  safetyMs?: number;
}

/**
 * Re-reads of the database standing in for hints this node may miss: every second while the bus is down,
 * or while there is no bus (no NATS) and other nodes share the database; rarely while the bus is live and
 * there are other nodes (one of them may be cut off from NATS alone); never on a node alone.
 */
export class Polling {
  private readonly everyMs: number;
  private readonly safetyMs: number;

  constructor(
    private readonly bus: Bus,
    private readonly options: PollingOptions,
  ) {
    this.everyMs = options.everyMs ?? 1000;
    this.safetyMs = options.safetyMs ?? 10_000;
  }

  /** Whether hints from other nodes may be missed now. */
  get needed(): boolean {
    return !this.bus.live || (this.bus instanceof LocalBus && this.options.peers() > 0);
  }

  /** How long a receiver may wait for a hint before it looks for itself; null when hints are all it needs. */
  get period(): number | null {
    if (this.needed) return this.everyMs;
    return this.options.peers() > 0 ? this.safetyMs : null;
  }

  /**
   * Calls `reread` whenever `period` has passed since the last call, one call at a time, and once more as
   * the bus comes back (hints sent while it was down are lost). Returns the stop.
   */
  every(what: string, reread: () => Promise<void>): () => void {
    let last = Date.now();
    let running = false;
    let wasNeeded = false;
    let timer: Timer;
    const look = () => {
      const period = this.period;
      const needed = this.needed;
      const back = wasNeeded && !needed;
      wasNeeded = needed;
      // a node alone looks whether it has to poll once a period, not four times a second: it wakes an idle process
      timer = setTimeout(look, period === null ? this.everyMs : Math.min(this.everyMs, 250));
      if (running || (!back && (period === null || Date.now() - last < period))) return;
      running = true;
      last = Date.now();
      reread()
        .catch((e) => console.error(`[poll] re-reading ${what} failed:`, e))
        .finally(() => {
          running = false;
        });
    };
    timer = setTimeout(look, Math.min(this.everyMs, 250));
    return () => clearTimeout(timer);
  }
}
