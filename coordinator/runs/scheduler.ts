import { and, eq, inArray, or } from "drizzle-orm";
import { background } from "../../shared/background.ts";
import type { InStatement } from "@libsql/client";
import { type Write, writeAll } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { attempts, events, ON_AGENT, runGroups, runs, tasks } from "../db/schema.ts";
import { advance } from "../engine/advance.ts";
import { admitted } from "../engine/commands.ts";
import { type AttemptEvent, type AttemptTarget, allowed } from "../engine/attempt-transitions.ts";
import { type AttemptState, FINAL_RUN_PHASES } from "../engine/types.ts";
import { type ActiveRun, type AttemptRow, engineInput, type RunRow, type TaskRow } from "./active-run.ts";
import { loadOpenRuns, loadRun, type StoredRun } from "./load-run.ts";
import { fenced, type RunLeases } from "../cluster/run-leases.ts";
import { groupGuard, overGroupLimit } from "./group-guard.ts";
import type { RunEvents } from "./run-events.ts";
import { Serial } from "./serial.ts";
import { preciseNow } from "../../shared/precise-clock.ts";
import { ON_AGENT_STATES } from "../../shared/states.ts";
import { decisionWrites } from "./decision-writes.ts";
import { TransitionQueries } from "./transition-queries.ts";

/**
 * The engine's decisions on one run: the writes that store them, and `settle` to apply them to memory and tell the
 * others once the writes have committed; `ahead`, the attempts it makes that go to agents in the same write.
 */
interface Plan {
  runId: string;
  writes: Write[];
  ahead: PlacedAhead | null;
  settle: () => Promise<void>;
}

/** How many runs' advances one write holds at most: a larger group would hold the event loop for long. */
const ADVANCE_GROUP = 32;

export interface QueueSink {
  enqueue(attempt: AttemptRow): void;
  cancel(attempt: AttemptRow, graceMs: number): void;
  /** an attempt changed in the database by another node (ended, or its cancel requested), now read here */
  changed(attempt: AttemptRow, before: AttemptState): void;
  /** an attempt still queued here of a run that ended elsewhere: it leaves the queue (it holds no agent's slot) */
  leave(attempt: AttemptRow): void;
  /** attempts of `active` about to be made, given to agents in the write that makes them where none waits before them */
  placeAhead(active: ActiveRun, created: AttemptRow[]): PlacedAhead | null;
}

/**
 * Attempts given to agents in the write that makes them: `writes` store the assignments (after the attempts' inserts),
 * `sent` sends them once stored, `dropped` gives the agents' slots back when the write was refused.
 */
export interface PlacedAhead {
  writes: InStatement[];
  placed: ReadonlySet<string>;
  sent(): void;
  dropped(): void;
}

/**
 * The imperative shell around the engine: keeps unfinished runs in memory,
 * feeds them to `advance`, and writes what it decides to the database.
 *
 * With several coordinators on one database, every node keeps every unfinished run in memory (read again when
 * another node says it changed, or by polling), but only the node holding a run's lease (`leases`) runs its
 * engine. Any node may move an attempt of any run (its agent is connected there) by a conditional update.
 */
export class Scheduler {
  readonly active = new Map<string, ActiveRun>();
  private readonly attemptIndex = new Map<string, ActiveRun>();
  readonly serial = new Serial();
  /** run group → how many of its runs may run at once; groups not listed are unlimited */
  readonly groupLimits = new Map<string, number>();
  /** called once for each run that reaches a final phase */
  onFinished: (run: RunRow) => void = () => {};
  /** called when a run is created and whenever its phase or result changes; must not block (it is on the scheduler's path) */
  onPhase: (run: RunRow) => void = () => {};

  /** tells the other nodes that a run changed here, so they read it again (a hint: they also poll) */
  announce: (runId: string, attemptIds?: string[]) => void = () => {};

  constructor(
    private readonly db: Db,
    readonly runEvents: RunEvents,
    readonly cancelGraceMs: number,
    readonly leases: RunLeases,
  ) {
    this.transitionQueries = new TransitionQueries(db);
  }

  private readonly transitionQueries: TransitionQueries;

  /**
   * Where new attempts go and cancels are sent: the dispatcher, which reads the scheduler's state in
   * turn, so it is connected after both are made (runs never import the dispatch module).
   */
  private sink: QueueSink | null = null;

  dispatchTo(sink: QueueSink): void {
    this.sink = sink;
  }

  private get queue(): QueueSink {
    if (!this.sink) throw new Error("the scheduler was started without a dispatcher (dispatchTo)");
    return this.sink;
  }

  /**
   * Loads unfinished runs after a start, takes the ones no live node drives, and drives them; queued attempts
   * go back to the queue. Callers hold `serial`.
   */
  async load(): Promise<void> {
    await this.leases.claim();
    await this.readAll();
    for (const id of this.active.keys()) await this.advanceRun(id);
  }

  /** Reads every unfinished run again, as polling does when hints may not arrive. Callers hold `serial`. */
  async readAll(): Promise<void> {
    // limits set through another node reach this one too
    this.groupLimits.clear();
    for (const g of await this.db.select().from(runGroups)) {
      if (g.concurrency !== null) this.groupLimits.set(g.name, g.concurrency);
    }
    const open = await loadOpenRuns(this.db);
    const stillOpen = new Set(open.map((s) => s.run.id));
    for (const active of [...this.active.values()]) if (!stillOpen.has(active.run.id)) await this.reread(active.run.id, undefined);
    for (const stored of open) await this.reread(stored.run.id, stored);
  }

  /** Reads one run again after another node changed it: memory follows the database. Callers hold `serial`. */
  async read(runId: string): Promise<void> {
    await this.reread(runId, await loadRun(this.db, runId));
  }

  /**
   * Reads again the run's row and the attempts named by another node's hint (none: the row alone): what changed, not
   * the whole run (its tasks' specs do not change; a run unknown here is read whole, and of a run ended elsewhere only
   * the attempts not ended here). Callers hold `serial`.
   */
  async readAttempts(runId: string, attemptIds: string[]): Promise<void> {
    if (!this.active.has(runId)) return this.read(runId);
    const [run] = (await this.db.select().from(runs).where(eq(runs.id, runId))) as RunRow[];
    const active = this.active.get(runId);
    if (!run) return this.read(runId);
    if (!active) return;
    if (FINAL_RUN_PHASES.has(run.phase)) {
      // It ended elsewhere. What it held here are the attempts on agents in memory, read again so their slots free;
      // one still queued in memory (another node's agent took it, unsaid) holds no slot and only leaves the queue.
      // Not the whole run: its tasks and all its attempts, for a run of hundreds of tasks, cost each other node more
      // than the run's last hundred attempts' reports.
      const onAgents = [...active.attempts.values()].filter((a) => ON_AGENT_STATES.has(a.state)).map((a) => a.id);
      const ids = [...new Set([...attemptIds, ...onAgents])];
      const rows = ids.length ? ((await this.db.select().from(attempts).where(inArray(attempts.id, ids))) as AttemptRow[]) : [];
      const read = new Set(ids);
      for (const a of active.attempts.values()) if (a.state === "queued" && !read.has(a.id)) this.queue.leave(a);
      return this.closed(active, run, rows);
    }
    Object.assign(active.run, run);
    if (attemptIds.length) await this.readAttemptRows(attemptIds);
    if (this.leases.owns(runId)) this.requestAdvance(runId);
  }

  private async reread(runId: string, stored: StoredRun | undefined): Promise<void> {
    const active = this.active.get(runId);
    if (!stored || FINAL_RUN_PHASES.has(stored.run.phase as RunRow["phase"])) {
      if (active) await this.closed(active, stored?.run, stored?.attempts ?? []);
      return;
    }
    if (!active) {
      this.track(stored.run, stored.tasks, stored.attempts);
      for (const a of stored.attempts) if (a.state === "queued") this.queue.enqueue(a);
    } else {
      Object.assign(active.run, stored.run);
      for (const t of stored.tasks) {
        const row = active.tasks.get(t.id);
        if (row) Object.assign(row, t);
        else active.tasks.set(t.id, t);
      }
      for (const a of stored.attempts) this.merge(active, a);
    }
    if (this.leases.owns(runId)) this.requestAdvance(runId);
  }

  /** The run ended elsewhere (or was deleted: no `run`): the attempts it had here changed with it, as `attemptRows` say. */
  private async closed(active: ActiveRun, run: RunRow | undefined, attemptRows: AttemptRow[]): Promise<void> {
    for (const a of attemptRows) this.merge(active, a);
    this.leases.forget(active.run.id);
    this.forget(active);
    if (run) Object.assign(active.run, run);
    this.runEvents.publish(active.run.id);
    await this.startNextInGroup(active.run.group);
  }

  private merge(active: ActiveRun, row: AttemptRow): void {
    const known = active.attempts.get(row.id);
    if (!known) {
      active.attempts.set(row.id, row);
      this.attemptIndex.set(row.id, active);
      if (row.state === "queued") this.queue.enqueue(row);
      return;
    }
    if (known.state === row.state && known.cancelRequestedAt === row.cancelRequestedAt && known.agentId === row.agentId) return;
    const before = known.state;
    Object.assign(known, row);
    if (row.state === "queued") this.queue.enqueue(known);
    this.queue.changed(known, before);
  }

  /**
   * The run in memory, read from the database first unless this node drives it (another node may have created
   * or changed it a moment ago); undefined when it is finished or unknown. Callers hold `serial`.
   */
  async unfinished(runId: string): Promise<ActiveRun | undefined> {
    // what another node drives may have moved on since this node last read it
    if (!this.leases.owns(runId)) await this.read(runId);
    return this.active.get(runId);
  }

  /** Reads again attempts of runs known here, in one query, whatever their runs. Callers hold `serial`. */
  async readAttemptRows(attemptIds: string[]): Promise<void> {
    for (const row of (await this.db.select().from(attempts).where(inArray(attempts.id, attemptIds))) as AttemptRow[]) {
      const active = this.active.get(row.runId);
      if (active) this.merge(active, row);
    }
  }

  /** Reads one attempt again, and its run whole when this node does not know it. Callers hold `serial`. */
  async readAttempt(attemptId: string): Promise<void> {
    const [row] = await this.db.select({ runId: attempts.runId }).from(attempts).where(eq(attempts.id, attemptId));
    if (row) await this.readAttempts(row.runId, [attemptId]);
  }

  /**
   * Reads again the runs of the attempts an agent says it runs, and of those the database gives it: the agent
   * may come from another node, which changed them. Callers hold `serial`.
   */
  async readRunsOf(agentId: string, attemptIds: string[]): Promise<void> {
    const listed = attemptIds.length ? inArray(attempts.id, attemptIds) : undefined;
    const held = and(eq(attempts.agentId, agentId), ON_AGENT);
    const rows = await this.db
      .selectDistinct({ runId: attempts.runId })
      .from(attempts)
      .where(listed ? or(listed, held) : held);
    for (const { runId } of rows) await this.read(runId);
  }

  /**
   * Renews the leases of the runs this node drives and takes runs no live node drives (their node died or
   * stopped). Runs taken are read again and advanced; runs lost stay in memory, driven by another node.
   */
  async holdRuns(): Promise<void> {
    await this.leases.renew();
    const taken = await this.leases.claim();
    if (taken.length === 0) return;
    console.error(`[cluster] took over ${taken.length} run(s) no live node drives`);
    await this.serial.run(async () => {
      for (const id of taken) {
        await this.read(id);
        await this.advanceRun(id);
      }
    });
  }

  track(run: RunRow, taskRows: TaskRow[], attemptRows: AttemptRow[]): ActiveRun {
    const active: ActiveRun = {
      run,
      tasks: new Map(taskRows.map((t) => [t.id, t])),
      attempts: new Map(attemptRows.map((a) => [a.id, a])),
    };
    this.active.set(run.id, active);
    for (const a of attemptRows) this.attemptIndex.set(a.id, active);
    return active;
  }

  attempt(id: string): { active: ActiveRun; attempt: AttemptRow } | undefined {
    const active = this.attemptIndex.get(id);
    const attempt = active?.attempts.get(id);
    return active && attempt ? { active, attempt } : undefined;
  }

  private readonly dirty = new Set<string>();

  /**
   * Advances a run soon rather than now: when many attempts end at once, the
   * engine then looks at the run once for all of them instead of once each. Where another node drives the run,
   * that node is told which attempts changed (`attempts`), and reads those: not the whole run, which for a run of
   * hundreds of tasks cost it more than the rest of an attempt's work, once for every attempt ended elsewhere.
   */
  requestAdvance(runId: string, attempts?: string[]): void {
    if (!this.leases.owns(runId)) {
      this.announce(runId, attempts);
      return;
    }
    if (this.dirty.size === 0) {
      setImmediate(() => {
        background(
          "advance",
          this.serial.run(async () => {
            const runs = [...this.dirty];
            this.dirty.clear();
            await this.advanceRuns(runs);
            this.onAdvanced();
          }),
        );
      });
    }
    this.dirty.add(runId);
  }

  /** called after coalesced advances, so freed slots and new attempts meet in one dispatch pass */
  onAdvanced: () => void = () => {};

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
      return this.refused(plan.runId, e);
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
    for (let i = 0; i < oldestFirst.length; i += ADVANCE_GROUP) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      await this.advanceGroup(oldestFirst.slice(i, i + ADVANCE_GROUP));
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

  private refused(runId: string, e: unknown): void {
    const active = this.active.get(runId);
    if (overGroupLimit(e)) {
      // another node started a run of the group meanwhile: this one waits for a slot as it would here
      console.error(`[runs] run ${runId} waits: its group ${active?.run.group} is at its limit across nodes`);
      return;
    }
    if (!fenced(e)) throw e;
    // another node took the run (this one stalled past its lease): it drives the run from here on
    console.error(`[cluster] lost the lease of run ${runId}: another node drives it`);
    this.leases.forget(runId);
  }

  /** The engine's decisions on one run; undefined when there is nothing to write. */
  private plan(runId: string): Plan | undefined {
    const active = this.active.get(runId);
    if (!active) return;
    // another node drives it: the change asked for is in the database, and that node is told to read it
    if (!this.leases.owns(runId)) return void this.announce(runId);
    const run = { ...active.run, cancelRequested: active.run.cancelRequestedAt !== null, setupError: active.run.error };
    if (!admitted(run, this.runs(), this.groupLimits.get(run.group))) return;
    const at = preciseNow();
    const out = advance(engineInput(active, Math.floor(at)));
    const leading = [this.leases.fence(runId)];
    if (active.run.phase === "queued" && out.run.phase === "running") leading.push(groupGuard(this.db, active.run));
    const { writes, applied, created, phaseChanged } = decisionWrites(this.db, active, out, at, leading);
    if (writes.length === 1) return;
    // the attempts made ready here go straight to free agents where nothing waits: one commit, not two
    const ahead = created.length > 0 ? this.queue.placeAhead(active, created) : null;
    if (ahead) writes.push(...ahead.writes);
    return { runId, writes, ahead, settle: () => this.settle(active, out, { applied, created, phaseChanged, ahead }) };
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
    for (const row of created) {
      active.attempts.set(row.id, row);
      this.attemptIndex.set(row.id, active);
      if (!ahead?.placed.has(row.id)) this.queue.enqueue(row);
    }
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

  /**
   * Applies an attempt event of the engine's transition table with a conditional update, so a stale
   * report (the attempt moved on meanwhile) changes nothing; a change the table does not allow is a bug.
   */
  async transition<E extends AttemptEvent>(
    attemptId: string,
    event: E,
    patch: Partial<AttemptRow> & { state: AttemptTarget<E> },
  ): Promise<AttemptRow | undefined> {
    const found = this.attempt(attemptId);
    if (!found || !allowed(event, found.attempt.state, patch.state)) return undefined;
    const moved = await this.transitionQueries.run(event, attemptId, patch);
    if (!moved) {
      // Another node moved it first: read it again rather than act on what memory says. An attempt another
      // node's agent took is not: many nodes race for each queued attempt, and the winner's hint follows.
      if (event !== "assign") await this.readAttempts(found.active.run.id, [attemptId]);
      return undefined;
    }
    Object.assign(found.attempt, patch);
    if (!this.leases.owns(found.active.run.id)) this.announce(found.active.run.id, [attemptId]);
    return found.attempt;
  }

  /** The conditional update of `transition`, for a write of the caller's: memory follows once it has committed. */
  transitionStatement<E extends AttemptEvent>(attemptId: string, event: E, patch: Partial<AttemptRow> & { state: AttemptTarget<E> }): InStatement {
    return this.transitionQueries.statement(event, attemptId, patch);
  }

  async requestCancel(runId: string): Promise<boolean> {
    const active = await this.unfinished(runId);
    if (!active) return false;
    if (active.run.cancelRequestedAt === null) {
      const at = Date.now();
      await this.db.update(runs).set({ cancelRequestedAt: at }).where(eq(runs.id, runId));
      active.run.cancelRequestedAt = at;
    }
    await this.advanceRun(runId);
    return true;
  }

  /** Callers hold `serial`. */
  async setTaskMessage(task: TaskRow, message: string | null): Promise<void> {
    task.statusMessage = message;
    await this.db.update(tasks).set({ statusMessage: message }).where(eq(tasks.id, task.id));
    await this.appendEvent(task.runId, "task_message", { task: task.name, message });
  }

  /** Appends an event that is not a state change of the engine's (an approval, a restart). Callers hold `serial`. */
  async appendEvent(runId: string, kind: string, data: Record<string, unknown>): Promise<void> {
    await this.db.insert(events).values({ runId, kind, data, at: Date.now() });
    this.runEvents.publish(runId);
  }

  /** Stops tracking a run that was tracked again for a change that did not happen. */
  untrack(runId: string): void {
    const active = this.active.get(runId);
    if (active) this.forget(active);
  }

  /** The runs in memory, read only as far as admission needs (a group without a limit needs none). */
  private *runs(): Iterable<RunRow> {
    for (const a of this.active.values()) yield a.run;
  }

  private forget(active: ActiveRun): void {
    this.active.delete(active.run.id);
    for (const id of active.attempts.keys()) this.attemptIndex.delete(id);
  }
}

