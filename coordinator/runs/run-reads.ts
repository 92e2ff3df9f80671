import { and, count, eq, inArray, or, sql } from "drizzle-orm";
import { ON_AGENT_STATES, OPEN_RUN_PHASES } from "../../shared/states.ts";
import { attempts, ON_AGENT, runGroups, runs } from "../db/schema.ts";
import { FINAL_RUN_PHASES } from "../engine/types.ts";
import type { ActiveRun, AttemptRow, RunRow } from "./active-run.ts";
import { loadOpenRuns, loadRun, type StoredRun } from "./load-run.ts";
import { RunAdvances } from "./run-advances.ts";

/** How many runs left unread one dispatch pass looks at, and reads, at most (readUnread) */
const UNREAD_PER_PASS = 8;
/**
 * A run left unread is read whole once at least this share of its attempts wait in the queue. Reading a run of a
 * thousand tasks costs a node 10-25 ms, which only pays while the run's own node has many attempts still to place:
 * in `bench cluster` each node read the other nodes' nearly drained runs as its own ran out, and took over a few
 * dozen attempts for 40-70 ms of its event loop, just as its own runs were ending. Alternated there (three nodes,
 * 12 batches each): 4,256 tasks/s on average at a quarter, 3,945 at an eighth, 4,198 never reading.
 */
const WORTH_READING_SHARE = 1 / 4;
/** ...or once one of its queued attempts has waited this long: the run's own node may have no agent to take it */
const STARVING_MS = 2_000;
/** A run looked at and found not worth reading yet is looked at again after this long, or when a hint names it. */
const LOOK_AGAIN_MS = 250;

/**
 * Reading runs changed elsewhere: with several coordinators on one database, every node keeps the unfinished runs it
 * has read in memory (another node's new run once its agents have room: leaveUnread), and reads one again (whole, or
 * the attempts named) when another node says it changed, or by polling.
 */
export abstract class RunReads extends RunAdvances {
  /** runs other nodes hinted at that this node has not read yet (leaveUnread), each with when to look at it next */
  private readonly unread = new Map<string, number>();
  private lookAgain: ReturnType<typeof setTimeout> | null = null;

  /**
   * A run another node hinted at and this node does not know: read once this node's agents have room after their own
   * queue (readUnread), not at once. Reading a run whole costs a node as much as a few dozen of its attempts' reports
   * (a run of a thousand tasks, 13 ms here), and while the agents here are busy with other work it would be read
   * for nothing: the run's own node places its attempts. A hint about a run already left unread has it looked at
   * again at once (it may have new attempts).
   */
  leaveUnread(runId: string): void {
    this.unread.set(runId, 0);
    this.wakeDispatcher();
  }

  /**
   * Reads the runs left unread that are worth it, the oldest first: at most UNREAD_PER_PASS looked at a pass (the
   * dispatcher is woken again for the rest), as a node that comes free after a long busy spell may have many, and
   * each pass holds `serial`. One query finds which of them are still open, and how much of each waits in the queue:
   * those that ended are dropped, and those whose own node has little left to place (WORTH_READING_SHARE) are
   * looked at again later, unless an attempt of theirs has waited STARVING_MS. Whether it read any. Callers hold
   * `serial`.
   */
  async readUnread(): Promise<boolean> {
    for (const id of this.unread.keys()) if (this.active.has(id)) this.unread.delete(id);
    const now = Date.now();
    const due = [...this.unread].filter(([, at]) => at <= now).map(([id]) => id);
    if (due.length === 0) return false;
    const next = due.sort().slice(0, UNREAD_PER_PASS);
    const queues = await this.db
      .select({
        id: runs.id,
        attempts: count(attempts.id),
        queued: sql<number>`coalesce(sum(${attempts.state} = 'queued'), 0)`,
        oldest: sql<number | null>`min(case when ${attempts.state} = 'queued' then ${attempts.readyAt} end)`,
      })
      .from(runs)
      .leftJoin(attempts, eq(attempts.runId, runs.id))
      .where(and(inArray(runs.id, next), inArray(runs.phase, [...OPEN_RUN_PHASES])))
      .groupBy(runs.id);
    const worth = new Set(
      queues
        .filter((q) => q.queued > 0 && (q.queued >= q.attempts * WORTH_READING_SHARE || now - (q.oldest ?? now) >= STARVING_MS))
        .map((q) => q.id),
    );
    const open = new Set(queues.map((q) => q.id));
    for (const id of next) {
      if (open.has(id) && !worth.has(id)) this.unread.set(id, now + LOOK_AGAIN_MS);
      else this.unread.delete(id);
    }
    for (const id of next) if (worth.has(id)) await this.read(id);
    if (due.length > next.length) this.wakeDispatcher();
    if (open.size > worth.size) this.lookAgainSoon();
    return worth.size > 0;
  }

  /** Wakes the dispatcher once runs found not worth reading are due to be looked at again. */
  private lookAgainSoon(): void {
    if (this.lookAgain) return;
    this.lookAgain = setTimeout(() => {
      this.lookAgain = null;
      this.wakeDispatcher();
    }, LOOK_AGAIN_MS);
    // it is a hint to look, not work in hand: a node stopping does not wait for it
    this.lookAgain.unref();
  }

  /** Reads every unfinished run again, as polling does when hints may not arrive. Callers hold `serial`. */
  async readAll(): Promise<void> {
    // every open run is read below, and those left unread that ended need no reading
    this.unread.clear();
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
}
