import { and, eq, inArray, or } from "drizzle-orm";
import { ON_AGENT_STATES, OPEN_RUN_PHASES } from "../../shared/states.ts";
import { attempts, ON_AGENT, runGroups, runs } from "../db/schema.ts";
import { FINAL_RUN_PHASES } from "../engine/types.ts";
import type { ActiveRun, AttemptRow, RunRow } from "./active-run.ts";
import { loadOpenRuns, loadRun, type StoredRun } from "./load-run.ts";
import { RunAdvances } from "./run-advances.ts";

/** How many runs left unread one dispatch pass reads at most (readUnread) */
const UNREAD_PER_PASS = 8;

/**
 * Reading runs changed elsewhere: with several coordinators on one database, every node keeps the unfinished runs it
 * has read in memory (another node's new run once its agents have room: leaveUnread), and reads one again (whole, or
 * the attempts named) when another node says it changed, or by polling.
 */
export abstract class RunReads extends RunAdvances {
  /** runs other nodes hinted at that this node has not read yet (leaveUnread) */
  private readonly unread = new Set<string>();

  /**
   * A run another node hinted at and this node does not know: read once this node's agents have room after their own
   * queue (readUnread), not at once. Reading a run whole costs a node as much as a few dozen of its attempts' reports
   * (a run of a thousand tasks, 13 ms here), and while the agents here are busy with other work it would be read
   * for nothing: the run's own node places its attempts.
   */
  leaveUnread(runId: string): void {
    this.unread.add(runId);
    this.wakeDispatcher();
  }

  /**
   * Reads runs left unread, the oldest first and at most UNREAD_PER_PASS (the dispatcher is woken again for the rest):
   * a node that comes free after a long busy spell may have many, and each pass holds `serial`. Those that ended
   * meanwhile, found in one query, are not read. Whether it read any. Callers hold `serial`.
   */
  async readUnread(): Promise<boolean> {
    for (const id of this.unread) if (this.active.has(id)) this.unread.delete(id);
    if (this.unread.size === 0) return false;
    const next = [...this.unread].sort().slice(0, UNREAD_PER_PASS);
    for (const id of next) this.unread.delete(id);
    const open = await this.db
      .select({ id: runs.id })
      .from(runs)
      .where(and(inArray(runs.id, next), inArray(runs.phase, [...OPEN_RUN_PHASES])));
    for (const { id } of open) await this.read(id);
    if (this.unread.size > 0) this.wakeDispatcher();
    return open.length > 0;
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
