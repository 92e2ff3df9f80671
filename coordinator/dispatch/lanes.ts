import type { TaskSpec } from "../../shared/pipeline/index.ts";
import type { AttemptRow } from "../runs/active-run.ts";
import { requested } from "./placement.ts";

/** The queue's order: FIFO by run id (a ULID), then attempt id. */
export const queueOrder = (a: AttemptRow, b: AttemptRow): number =>
  a.runId === b.runId ? (a.id < b.id ? -1 : 1) : a.runId < b.runId ? -1 : 1;

const keys = new WeakMap<TaskSpec, string>();

/**
 * What a task asks of an agent, and all it asks (placement.ts: agentMatches, fits): tasks of one lane can go to the
 * same agents, so once one of them finds no agent in a pass, none of the others would.
 */
export function laneKey(spec: TaskSpec): string {
  let key = keys.get(spec);
  if (key === undefined) {
    const labels = Object.entries(spec.labels).sort(([a], [b]) => (a < b ? -1 : 1));
    const { cpu, memoryBytes } = requested(spec);
    key = JSON.stringify([spec.arch ?? null, spec.group ?? null, spec.sandbox ?? false, labels, cpu, memoryBytes]);
    keys.set(spec, key);
  }
  return key;
}

/** The queued attempts of one lane, in queue order once `sort` ran. */
export interface Lane {
  readonly key: string;
  /** whether the lane holds attempts of runs this node drives (dispatch.ts places those first) */
  readonly ours: boolean;
  readonly attempts: Map<string, AttemptRow>;
}

interface LaneState extends Lane {
  /** the lane's key and whose runs it holds */
  id: string;
  ordered: boolean;
  last: AttemptRow | null;
}

/**
 * The dispatch queue, split into lanes by what tasks ask of an agent. A pass looks at the head of each lane, not at
 * every queued attempt: a thousand tasks no agent can take cost it one look, not a thousand (the dispatch path
 * stays flat however long the queue grows).
 */
export class Lanes {
  private readonly lanes = new Map<string, LaneState>();
  private readonly laneOf = new Map<string, LaneState>();

  get size(): number {
    return this.laneOf.size;
  }

  /** Queues an attempt in the lane of `key`, among the runs this node drives (`ours`) or the other nodes'. */
  add(attempt: AttemptRow, key: string, ours = true): void {
    const id = `${ours ? "ours" : "others"} ${key}`;
    const known = this.laneOf.get(attempt.id);
    if (known && known.id !== id) this.delete(attempt.id);
    let lane = this.lanes.get(id);
    if (!lane) {
      lane = { id, key, ours, attempts: new Map(), ordered: true, last: null };
      this.lanes.set(id, lane);
    }
    // attempt ids are ULIDs and runs are made in order, so appends keep the order; a retry of an older run does not
    if (!lane.attempts.has(attempt.id)) {
      if (lane.last && queueOrder(attempt, lane.last) < 0) lane.ordered = false;
      else lane.last = attempt;
    }
    lane.attempts.set(attempt.id, attempt);
    this.laneOf.set(attempt.id, lane);
  }

  delete(id: string): boolean {
    const lane = this.laneOf.get(id);
    if (!lane) return false;
    this.laneOf.delete(id);
    lane.attempts.delete(id);
    if (lane.attempts.size === 0) this.lanes.delete(lane.id);
    return true;
  }

  /** Every lane, each in queue order. */
  sorted(): Lane[] {
    for (const lane of this.lanes.values()) {
      if (lane.ordered) continue;
      const sorted = [...lane.attempts.values()].sort(queueOrder);
      lane.attempts.clear();
      for (const a of sorted) lane.attempts.set(a.id, a);
      lane.ordered = true;
      lane.last = sorted.at(-1) ?? null;
    }
    return [...this.lanes.values()];
  }

  *values(): Generator<AttemptRow> {
    for (const lane of this.lanes.values()) yield* lane.attempts.values();
  }
}
