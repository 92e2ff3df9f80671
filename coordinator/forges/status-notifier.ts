import { type RetryPolicy, retry } from "../../shared/retry.ts";
import { commitStatuses } from "../metrics/registry.ts";
import type { RunRow } from "../runs/active-run.ts";
import { ForgeRefused, postStatus, type StatusTarget } from "./status-clients.ts";
import { STATUS_EVENT, type StatusEventData } from "./status-events.ts";
import { type RunStatus, runStatusState } from "./status-state.ts";

export interface CommitStatusOptions {
  /** appends an event to the run (and wakes its followers) */
  appendEvent: (runId: string, kind: string, data: Record<string, unknown>) => Promise<void>;
  /** records the state the forge took (markPosted), so a restart knows which runs still lack theirs */
  posted: (runId: string, state: string) => Promise<void>;
  /** the run's latest forge_status event (latestStatusEvent), so a status taken after a refusal lifts it */
  lastStatusEvent: (runId: string) => Promise<StatusEventData | undefined>;
  /** the run page's URL */
  runUrl: (run: RunRow) => string;
  /** where the run's statuses go, with the commit and context; null when they go nowhere (no project, plain git) */
  target: (run: RunRow) => Promise<{ target: StatusTarget; sha: string; context: string } | null>;
  /** by default 6 tries, doubling from half a second: a forge down for about 15 s still gets the status */
  policy?: RetryPolicy;
}

/**
 * Posts each run's state to its forge as it changes (queued, running, finished), off the scheduler's path:
 * the call only snapshots the run and queues the post. One run's posts go out in order, and a state that a
 * newer one has already replaced is not retried any more, nor sent unless it is the run's queued state. A forge
 * that keeps refusing is recorded on the run as an event, never dropped silently; a later status it takes is
 * recorded too (`error: null`), so the run no longer shows the refusal once the forge holds its newer state.
 */
export class CommitStatuses {
  private readonly chains = new Map<string, Promise<void>>();
  /** run id → the state last queued, so an unchanged state (a task starting in a running run) posts nothing */
  private readonly queued = new Map<string, string>();

  constructor(private readonly options: CommitStatusOptions) {}

  onPhase(run: RunRow): void {
    const snapshot = { ...run };
    const { state, description } = runStatusState(snapshot);
    if (this.queued.get(run.id) === state) return;
    this.queued.set(run.id, state);
    const chain = (this.chains.get(run.id) ?? Promise.resolve()).then(() => this.send(snapshot, state, description));
    this.chains.set(run.id, chain);
    void chain.finally(() => {
      if (this.chains.get(run.id) !== chain) return;
      this.chains.delete(run.id);
      this.queued.delete(run.id);
    });
  }

  /**
   * After a restart: posts the current state of each run whose forge has not taken it (a post that was
   * queued or being retried when the coordinator stopped). Runs of projects without statuses post nothing.
   */
  resume(runs: RunRow[]): void {
    for (const run of runs) if (run.statusPosted !== runStatusState(run).state) this.onPhase(run);
  }

  /** Waits for every queued post (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.chains.size) await Promise.all(this.chains.values());
  }

  private superseded(runId: string, state: string): boolean {
    return this.queued.get(runId) !== state;
  }

  /** A status taken after a refusal is recorded, so the run shows the refusal no more. */
  private async liftRefusal(runId: string, state: string, context: string): Promise<void> {
    const { appendEvent, lastStatusEvent } = this.options;
    try {
      if ((await lastStatusEvent(runId))?.error) await appendEvent(runId, STATUS_EVENT, { state, context, error: null } satisfies StatusEventData);
    } catch (err) {
      console.error(`[forges] run ${runId}: recording the taken status failed:`, err);
    }
  }

  private async send(run: RunRow, state: RunStatus["state"], description: string): Promise<void> {
    // queued goes out even when running has already replaced it (a run started as it is written): the forge
    // shows each build's queued, running and result, whatever the timing between them
    if (state !== "pending" && this.superseded(run.id, state)) return;
    const { appendEvent, runUrl, target: targetOf, policy = { tries: 6, baseMs: 500, maxMs: 30_000 } } = this.options;
    let where: Awaited<ReturnType<typeof targetOf>> = null;
    try {
      where = await targetOf(run);
      if (!where) return;
      const status: RunStatus = { sha: where.sha, state, targetUrl: runUrl(run), description, context: where.context };
      const target = where.target;
      await retry(policy, () => postStatus(target, status), {
        retryIf: (e) => !this.superseded(run.id, state) && (!(e instanceof ForgeRefused) || e.transient),
      });
      commitStatuses.inc({ forge: target.forge, result: "taken" });
      await this.options.posted(run.id, state).catch((err) => console.error(`[forges] run ${run.id}: recording the taken status failed:`, err));
      await this.liftRefusal(run.id, state, where.context);
    } catch (e) {
      if (this.superseded(run.id, state)) return;
      commitStatuses.inc({ forge: where?.target.forge ?? "unknown", result: "refused" });
      const message = (e as Error).message;
      console.error(`[forges] run ${run.id}: the ${state} commit status was not taken: ${message}`);
      const data: StatusEventData = { state, context: where?.context ?? null, error: message };
      await appendEvent(run.id, STATUS_EVENT, data).catch((err) => console.error(`[forges] run ${run.id}: recording the refused status failed:`, err));
    }
  }
}
