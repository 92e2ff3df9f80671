/**
 * Hints between the nodes of a cluster. A hint only says where to look: every receiver re-reads the
 * database, so a hint lost or late costs at most one polling interval, never a state change.
 */
export type Hint =
  /** new bytes of a running step's log were written on the node holding its agent */
  | { kind: "log_bytes"; attemptId: string; step: number }
  /** a run has new events: event streams of that run re-read them */
  | { kind: "run_event"; runId: string }
  /**
   * a run changed on the node `from`: an attempt moved outside its owner (a report), or its owner queued or
   * cancelled the attempts named; receivers read the run's row and those attempts (the row alone when the list is
   * empty, all of the run when there is no list)
   */
  | { kind: "run_changed"; runId: string; from: string; attempts?: string[] };

export type HintKind = Hint["kind"];
export type HintOf<K extends HintKind> = Extract<Hint, { kind: K }>;

export interface Bus {
  /** Sends a hint to every node, this one included. Never throws and never waits: a hint may be lost. */
  publish(hint: Hint): void;
  subscribe<K extends HintKind>(kind: K, handler: (hint: HintOf<K>) => void): () => void;
  /**
   * Asks for the other nodes' `run_event` hints of one run (null: of every run) until the returned stop is called.
   * They reach only the nodes that asked: most runs have nobody watching them, and a run's events are many (every
   * report of every attempt). This node's own hints reach its subscribers whatever it asked for. `ready` is called
   * once the other nodes' hints are sure to arrive: one sent before then may have been missed, so the watcher reads
   * again.
   */
  watchRunEvents(runId: string | null, ready: () => void): () => void;
  /**
   * Whether hints from other nodes are being delivered now. While false, receivers poll the database
   * (at most every second) for what hints would have told them.
   */
  readonly live: boolean;
  close(): Promise<void>;
}

/**
 * The bus of a coordinator without other nodes: hints go to this node's own subscribers, in order. A
 * subscriber that throws is logged and the others still get the hint: publishing never throws.
 */
export class LocalBus implements Bus {
  private readonly handlers = new Map<HintKind, Set<(hint: Hint) => void>>();
  readonly live = true;

  publish(hint: Hint): void {
    for (const handler of this.handlers.get(hint.kind) ?? []) {
      try {
        handler(hint);
      } catch (e) {
        console.error(`[bus] a ${hint.kind} subscriber failed:`, e);
      }
    }
  }

  subscribe<K extends HintKind>(kind: K, handler: (hint: HintOf<K>) => void): () => void {
    const set = this.handlers.get(kind) ?? new Set();
    const h = handler as (hint: Hint) => void;
    set.add(h);
    this.handlers.set(kind, set);
    return () => set.delete(h);
  }

  /** Every hint is this node's own: none is missed, and `ready` is not needed. */
  watchRunEvents(_runId: string | null, _ready: () => void): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
