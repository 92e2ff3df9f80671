import { background } from "../../shared/background.ts";
import { preciseNow } from "../../shared/precise-clock.ts";
import { fenced, type RunLeases } from "../cluster/run-leases.ts";
import { type Write, writeAll } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { advance } from "../engine/advance.ts";
import { admitted } from "../engine/commands.ts";
import { FINAL_RUN_PHASES } from "../engine/types.ts";
import { type ActiveRun, type AttemptRow, engineInput, type RunRow } from "./active-run.ts";
import { decide, decisionWrites } from "./decision-writes.ts";
import { groupGuard, overGroupLimit } from "./group-guard.ts";
import type { PlacedAhead } from "./queue-sink.ts";
import type { RunEvents } from "./run-events.ts";
import { RunMemory } from "./run-memory.ts";
import { breathe, Serial } from "./serial.ts";

/**
 * The engine's decisions on one run: the writes that store them, and `settle` to apply them to memory and tell the
 * others once the writes have committed; `ahead`, the attempts it makes that go to agents in the same write.
 */
interface Plan {
  runId: string;
  /** the epoch of the run's lease its writes are fenced by */
  epoch: number;
  writes: Write[];
  ahead: PlacedAhead | null;
  settle: () => Promise<void>;
}

/**
 * How long a run's change that nothing waits for may wait for its others (requestAdvance), per task of the run: the
 * engine's pass over a run costs under a microsecond per task, and what the wait saves is passes. At most
 * UNHURRIED_MAX_MS; under 1 ms (a run of fewer than ten tasks) it is no wait: the run is looked at now.
 */
const UNHURRIED_MS_PER_TASK = 0.1;
const UNHURRIED_MAX_MS = 100;

/** How long an unhurried change of a run of `tasks` tasks waits for its others; 0: it does not wait. */
export function unhurriedWaitMs(tasks: number): number {
  const wait = Math.min(UNHURRIED_MAX_MS, tasks * UNHURRIED_MS_PER_TASK);
  return wait < 1 ? 0 : wait;
}

/** How many runs' advances one write holds at most: a larger group would hold the event loop for long. */
const ADVANCE_GROUP = 32;
/**
 * About how long one group may hold the event loop: the next group is sized by how long the last took per run, so a
 * loaded machine (a slower run each) writes smaller groups and lets requests in sooner.
 */
const GROUP_BUDGET_MS = 8;

/**
 * Planning and writing advances: feeds the runs this node drives (by their leases) to the engine's `advance`, writes
 * its decisions fenced by the run's lease, and applies them to memory once they have committed.
 */
export abstract class RunAdvances extends RunMemory {
  readonly serial = new Serial();
  /** run group → how many of its runs may run at once; groups not listed are unlimited */
  readonly groupLimits = new Map<string, number>();
  /** called once for each run that reaches a final phase */
  onFinished: (run: RunRow) => void = () => {};
  /** called when a run is created and whenever its phase or result changes; must not block (it is on the scheduler's path) */
  onPhase: (run: RunRow) => void = () => {};
  /** tells the other nodes that a run changed here, so they read it again (a hint: they also poll) */
  announce: (runId: string, attemptIds?: string[]) => void = () => {};
  /**
   * asks the dispatcher for a pass: after coalesced advances, so freed slots and new attempts meet in one pass; when an
   * attempt's end left its slot free and its run's advance waiting (unhurried); when another node's run was left unread
   */
  wakeDispatcher: () => void = () => {};

  constructor(
    protected readonly db: Db,
    readonly runEvents: RunEvents,
    readonly cancelGraceMs: number,
    readonly leases: RunLeases,
  ) {
    super();
  }

  private readonly dirty = new Set<string>();
  /** runs whose change nothing waits for, advanced with the next pass or within their wait (unhurriedWaitMs) */
  private readonly unhurried = new Set<string>();
  private unhurriedTimer: ReturnType<typeof setTimeout> | null = null;
  /** when the timer fires: the soonest of the waiting runs' ends of wait */
  private unhurriedAt = Number.POSITIVE_INFINITY;

  /**
   * Advances a run soon rather than now: when many attempts end at once, the
   * engine then looks at the run once for all of them instead of once each. Where another node drives the run,
   * that node is told which attempts changed (`attempts`), and reads those: not the whole run, which for a run of
   * hundreds of tasks cost it more than the rest of an attempt's work, once for every attempt ended elsewhere.
   *
   * A change nothing waits for (`unhurried`: an attempt succeeded whose task no other task depends on, while another
   * attempt of its run is still queued or running: the run's last one goes at once, as its end waits on it) waits for the
   * run's others, up to 0.1 ms per task of the run and 100 ms at most (unhurriedWaitMs). The engine's pass over a run
   * looks at every task, so a run of a thousand tasks advanced for each few of them that ended cost more than the
   * rest of their work (three nodes on one database, runs of 1,000 tasks: 3,260-3,430 tasks/s on average with a 20 ms
   * wait, 3,490-3,520 with 50, 3,680 with 100; one node alike with 20 or 100);
   * what such a change decides (the task's status, the run's end) is not on anything's way, and a small run, whose
   * end would only come later, does not wait.
   */
  requestAdvance(runId: string, attempts?: string[], unhurried = false): void {
    if (!this.leases.owns(runId)) {
      if (!this.leases.defer(runId)) this.announce(runId, attempts);
      return;
    }
    const wait = unhurried ? unhurriedWaitMs(this.active.get(runId)?.tasks.size ?? 0) : 0;
    if (wait > 0) {
      this.unhurried.add(runId);
      this.passWithin(wait);
      // the slot the attempt freed is offered now: only the engine's look at the run waits
      this.wakeDispatcher();
      return;
    }
    if (this.dirty.size === 0) setImmediate(() => background("advance", this.pass()));
    this.dirty.add(runId);
  }

  /** Makes the unhurried runs' pass come within `ms`, or sooner as another run's wait asked. */
  private passWithin(ms: number): void {
    const at = performance.now() + ms;
    if (at >= this.unhurriedAt) return;
    this.stopUnhurriedTimer();
    this.unhurriedAt = at;
    this.unhurriedTimer = setTimeout(() => {
      this.unhurriedTimer = null;
      this.unhurriedAt = Number.POSITIVE_INFINITY;
      background("advance", this.pass());
    }, ms);
  }

  private stopUnhurriedTimer(): void {
    if (this.unhurriedTimer) clearTimeout(this.unhurriedTimer);
    this.unhurriedTimer = null;
    this.unhurriedAt = Number.POSITIVE_INFINITY;
  }

  /** Advances the runs waiting unhurried now (the node is stopping), and whatever else waits. */
  advanceUnhurried(): Promise<void> {
    this.stopUnhurriedTimer();
    return this.pass();
  }

  /** One pass over the runs asked for, the unhurried ones along: the engine looks at each once for all their changes. */
  private pass(): Promise<void> {
    return this.serial.run(async () => {
      const runs = [...new Set([...this.dirty, ...this.unhurried])];
      this.dirty.clear();
      this.unhurried.clear();
      await this.advanceRuns(runs);
      this.wakeDispatcher();
    });
  }

  /** Runs the engine on one run and applies its decisions. Callers hold `serial`. */
  async advanceRun(runId: string): Promise<void> {
    const plan = this.plan(runId);
    if (plan) await this.write(plan);
  }

  /** Writes one run's plan alone, and applies it once committed. */
  private async write(plan: Plan): Promise<void> {
    try {
      await writeAll(this.db, plan.writes);
    } catch (e) {
      plan.ahead?.dropped();
      return this.refused(plan.runId, plan.epoch, e);
    }
    await plan.settle();
  }

  /**
   * Advances several runs (just created together, or changed together) with one write a group of them (a group
   * commit), where each alone would commit its own; requests are let in between groups. Callers hold `serial`.
   */
  async advanceRuns(runIds: string[]): Promise<void> {
    // oldest first, as the queue goes: a free agent goes to the oldest run's attempt made now (Dispatcher.placeAhead)
    const oldestFirst = [...runIds].sort();
    let size = ADVANCE_GROUP;
    for (let i = 0; i < oldestFirst.length; ) {
      await breathe();
      const group = oldestFirst.slice(i, i + size);
      const began = performance.now();
      await this.advanceGroup(group);
      const perRun = (performance.now() - began) / group.length;
      i += group.length;
      size = Math.max(1, Math.min(ADVANCE_GROUP, Math.floor(GROUP_BUDGET_MS / perRun)));
    }
  }

  /**
   * A run of a group with a limit goes alone, after the others: its admission depends on the others' phases,
   * which change only as each write is applied.
   */
  private async advanceGroup(runIds: string[]): Promise<void> {
    const limited = runIds.filter((id) => this.groupLimits.has(this.active.get(id)?.run.group ?? ""));
    const plans = runIds.filter((id) => !limited.includes(id)).flatMap((id) => this.plan(id) ?? []);
    if (plans.length > 1) {
      try {
        await writeAll(this.db, plans.flatMap((p) => p.writes));
      } catch {
        // one run's write refused (fenced, a group guard) takes none of the others with it: each goes alone
        for (const p of plans) p.ahead?.dropped();
        for (const p of plans) await this.advanceRun(p.runId);
        plans.length = 0;
      }
      for (const p of plans) await p.settle();
    } else if (plans.length === 1) await this.write(plans[0]!);
    for (const id of limited) await this.advanceRun(id);
  }

  private refused(runId: string, epoch: number, e: unknown): void {
    const active = this.active.get(runId);
    if (overGroupLimit(e)) {
      // another node started a run of the group meanwhile: this one waits for a slot as it would here
      console.error(`[runs] run ${runId} waits: its group ${active?.run.group} is at its limit across nodes`);
      return;
    }
    if (!fenced(e)) throw e;
    // another node took the run (this one stalled past its lease): it drives the run from here on
    console.error(`[cluster] lost the lease of run ${runId}: another node drives it`);
    this.leases.forget(runId, epoch);
  }

  /** The engine's decisions on one run; undefined when there is nothing to write. */
  private plan(runId: string): Plan | undefined {
    const active = this.active.get(runId);
    if (!active) return;
    // another node drives it: the change asked for is in the database, and that node is told to read it; or this
    // node's renewal is late, and the run is advanced once renewed
    if (!this.leases.owns(runId)) return void (this.leases.defer(runId) || this.announce(runId));
    const run = { ...active.run, cancelRequested: active.run.cancelRequestedAt !== null, setupError: active.run.error };
    if (!admitted(run, this.runs(), this.groupLimits.get(run.group))) return;
    const at = preciseNow();
    const out = advance(engineInput(active, Math.floor(at)));
    const leading: Write[] = [this.leases.fence(runId)];
    if (active.run.phase === "queued" && out.run.phase === "running") leading.push(groupGuard(this.db, active.run));
    const decided = decide(active, out, at);
    const created = decided.created.map((c) => c.attempt);
    // the attempts made ready here go straight to free agents where nothing waits: inserted assigned, in one commit
    const ahead = created.length > 0 ? this.queue.placeAhead(active, created) : null;
    const { writes, applied, phaseChanged } = decisionWrites(this.db, active, decided, leading);
    if (writes.length === 1) return;
    return { runId, epoch: this.leases.epoch(runId), writes, ahead, settle: () => this.settle(active, out, { applied, created, phaseChanged, ahead }) };
  }

  async settle(
    active: ActiveRun,
    out: ReturnType<typeof advance>,
    {
      applied,
      created,
      phaseChanged,
      ahead = null,
    }: { applied: (() => void)[]; created: AttemptRow[]; phaseChanged: boolean; ahead?: PlacedAhead | null },
  ): Promise<void> {
    const runId = active.run.id;
    for (const apply of applied) apply();
    for (const row of created) this.added(active, row, !ahead?.placed.has(row.id));
    ahead?.sent();
    for (const action of out.actions) {
      if (action.type !== "cancel_attempt") continue;
      const found = active.attempts.get(action.attemptId);
      if (found) this.queue.cancel(found, this.cancelGraceMs);
    }
    if (out.events.length) this.runEvents.publish(runId);
    if (phaseChanged) this.onPhase(active.run);
    // The other nodes need the attempts made or cancelled (their agents take or stop them) and the run's row when its
    // phase changed; its tasks' statuses only this node uses. With neither, no hint: each would read the whole run.
    const named = [...created.map((a) => a.id), ...out.actions.flatMap((a) => (a.type === "cancel_attempt" ? [a.attemptId] : []))];
    if (named.length > 0 || phaseChanged) this.announce(runId, named);
    if (FINAL_RUN_PHASES.has(active.run.phase)) {
      this.leases.forget(runId);
      this.forget(active);
      this.onFinished(active.run);
      await this.startNextInGroup(active.run.group);
    }
  }

  async startNextInGroup(group: string): Promise<void> {
    // the oldest queued run of the group, found without a copy of every open run: this runs at each run's end
    for (let next: ActiveRun | undefined; ; next = undefined) {
      for (const a of this.active.values()) if (a.run.group === group && a.run.phase === "queued" && !(next && next.run.id < a.run.id)) next = a;
      if (!next) return;
      await this.advanceRun(next.run.id);
      if (next.run.phase === "queued") return;
    }
  }
}
