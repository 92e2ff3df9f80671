import { background } from "../../shared/background.ts";
import { ON_AGENT_STATES } from "../../shared/states.ts";
import type { AttemptState } from "../engine/types.ts";
import { queueWait } from "../metrics/registry.ts";
import type { AttemptRow, TaskRow } from "../runs/active-run.ts";
import type { Projects } from "../projects/projects.ts";
import type { GroupValues } from "../secrets/group-values.ts";
import { commandDigest } from "../runs/digest.ts";
import type { QueueSink, Scheduler } from "../runs/scheduler.ts";
import { checkoutUnavailable } from "../projects/checkout.ts";
import { buildAssignment } from "./assignment.ts";
import type { Fleet } from "../fleet/fleet.ts";
import { queueTimeout } from "../engine/queue-timeout.ts";
import { agentMatches, describeNeeds, pickAgent, requested, workspaceHolders } from "./placement.ts";
import type { Waiting } from "./queue-depth.ts";

/** How often a pass with every slot taken looks at the waiting tasks (messages, queue timeouts). */
const SCAN_EVERY_MS = 1000;

/**
 * Pushes queued attempts to agents. The queue is FIFO by run id (a ULID) then
 * attempt id, and is pumped whenever an attempt is queued or a slot frees up.
 */
export class Dispatcher implements QueueSink {
  private readonly queue = new Map<string, AttemptRow>();
  /** attempt ids are ULIDs, so appends keep FIFO order; only a requeue can break it */
  private ordered = true;
  private lastQueued = "";
  private pumping = false;
  private again = false;
  private readonly acceptTimers = new Map<string, Timer>();
  /** when a pass last walked the queue with every slot taken */
  private scannedAt = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly fleet: Fleet,
    private readonly acceptTimeoutMs: number,
    private readonly queueTimeoutMs: number,
    private readonly groupValues: GroupValues,
    private readonly projects: Pick<Projects, "checkoutAccess">,
    private readonly onAttemptEnded: (attempt: AttemptRow) => Promise<void>,
  ) {}

  enqueue(attempt: AttemptRow): void {
    this.queue.set(attempt.id, attempt);
    if (attempt.id < this.lastQueued) this.ordered = false;
    else this.lastQueued = attempt.id;
    this.pump();
  }

  get length(): number {
    return this.queue.size;
  }

  /** The queued attempts with their task's spec, for the queue's depth (queue-depth.ts). */
  *waiting(): Generator<Waiting> {
    for (const queued of this.queue.values()) {
      const found = this.scheduler.attempt(queued.id);
      const task = found?.attempt.state === "queued" ? found.active.tasks.get(queued.taskId) : undefined;
      if (task) yield { spec: task.spec, readyAt: queued.readyAt };
    }
  }

  cancel(attempt: AttemptRow, graceMs: number): void {
    if (this.queue.delete(attempt.id)) {
      background(
        "cancel",
        this.scheduler.serial.run(async () => {
          const ended = await this.scheduler.transition(attempt.id, "cancel_queued", { state: "stopped", endedAt: Date.now() });
          if (ended) await this.onAttemptEnded(ended);
        }),
      );
      return;
    }
    const agent = attempt.agentId ? this.fleet.agents.get(attempt.agentId) : undefined;
    agent?.socket?.send({ type: "cancel", attempt: attempt.id, graceMs });
  }

  /**
   * Another node changed an attempt (read here from the database): a slot it held on an agent of this node
   * frees once it ended there, and a cancel its run's engine asked for goes to the agent if it is here.
   */
  changed(attempt: AttemptRow, before: AttemptState): void {
    const agent = attempt.agentId ? this.fleet.agents.get(attempt.agentId) : undefined;
    if (attempt.state !== "queued") this.queue.delete(attempt.id);
    if (!ON_AGENT_STATES.has(attempt.state)) {
      if (ON_AGENT_STATES.has(before)) this.accepted(attempt.id);
      this.fleet.free(attempt.agentId, attempt.id);
      this.pump();
      return;
    }
    if (attempt.cancelRequestedAt !== null) agent?.socket?.send({ type: "cancel", attempt: attempt.id, graceMs: this.scheduler.cancelGraceMs });
  }

  /** Coalesces bursts: one pass at a time, another pass if something arrived meanwhile. */
  pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    background(
      "dispatch",
      this.scheduler.serial
        .run(() => this.pass())
        .finally(() => {
          this.pumping = false;
          if (this.again) {
            this.again = false;
            this.pump();
          }
        }),
    );
  }

  private async pass(): Promise<void> {
    if (!this.ordered) {
      const sorted = [...this.queue.values()].sort((a, b) =>
        a.runId === b.runId ? (a.id < b.id ? -1 : 1) : a.runId < b.runId ? -1 : 1,
      );
      this.queue.clear();
      for (const a of sorted) this.queue.set(a.id, a);
      this.ordered = true;
    }
    // With no slot free anywhere, a pass only tells waiting tasks why and fails those past the queue timeout:
    // done once a second, not at every pump, or each submission would pay a walk of the whole queue.
    const now = Date.now();
    if (!this.anyFreeSlot()) {
      if (now - this.scannedAt < SCAN_EVERY_MS) return;
      this.scannedAt = now;
    }
    // a Map visits entries added during the walk and skips ones deleted: no copy of the queue is needed
    for (const queued of this.queue.values()) {
      // nothing can be placed once every slot is taken; timeouts are still checked on the periodic pump,
      // and with no agent at all each waiting task is told so
      if (this.fleet.agents.size > 0 && !this.anyFreeSlot() && !queueTimeout(queued.readyAt, Date.now(), this.queueTimeoutMs)) break;
      const found = this.scheduler.attempt(queued.id);
      if (!found || found.attempt.state !== "queued") {
        this.queue.delete(queued.id);
        continue;
      }
      const owner = this.scheduler.leases.owns(found.active.run.id);
      if (found.attempt.cancelRequestedAt !== null) {
        // stopped by its run's engine before a crash let it go through: it stays off the agents
        if (owner) this.cancel(found.attempt, 0);
        else this.queue.delete(queued.id);
        continue;
      }
      const task = found.active.tasks.get(queued.taskId)!;
      const run = found.active.run;
      const repo = run.projectId ? await this.projects.checkoutAccess(run.projectId) : null;
      const unrunnable = checkoutUnavailable(run, task.spec, repo);
      if (unrunnable && owner) {
        this.queue.delete(queued.id);
        const ended = await this.scheduler.transition(queued.id, "unrunnable", { state: "failed", error: unrunnable, endedAt: Date.now() });
        if (ended) await this.onAttemptEnded(ended);
        continue;
      }
      const agent = pickAgent(this.fleet.agents.values(), task.spec, workspaceHolders(found.active, task));
      if (unrunnable) continue;
      if (!agent) {
        // only the node driving the run says why a task waits, or fails it after the queue timeout
        if (owner) await this.unplaced(queued, task);
        continue;
      }
      if (task.statusMessage) await this.scheduler.setTaskMessage(task, null);
      const arch = task.spec.arch ?? agent.row.archs[0]!;
      const assigned = await this.scheduler.transition(queued.id, "assign", {
        state: "assigned",
        agentId: agent.row.id,
        assignedAt: Date.now(),
        digest: commandDigest(task.spec, arch),
      });
      this.queue.delete(queued.id);
      if (!assigned) continue;
      this.fleet.take(agent, assigned.id, requested(task.spec));
      queueWait.observe((Date.now() - assigned.readyAt) / 1000);
      const values = await this.groupValues.resolve(run.group);
      agent.socket!.send({ type: "assign", assignment: buildAssignment(found.active, assigned, arch, values, repo) });
      this.acceptTimers.set(
        assigned.id,
        setTimeout(() => this.requeueUnaccepted(assigned.id), this.acceptTimeoutMs),
      );
    }
  }

  /**
   * A task no online agent could take says so instead of waiting silently, and
   * any attempt waiting past the queue timeout fails (the engine decides: queueTimeout).
   */
  private async unplaced(queued: AttemptRow, task: TaskRow): Promise<void> {
    const timedOut = queueTimeout(queued.readyAt, Date.now(), this.queueTimeoutMs);
    if (timedOut) {
      this.queue.delete(queued.id);
      const ended = await this.scheduler.transition(queued.id, "queue_timeout", timedOut);
      if (ended) await this.onAttemptEnded(ended);
      return;
    }
    // Said in the words the CLI and the run page show as they are: why the task waits.
    const possible = [...this.fleet.agents.values()].some((agent) => agent.socket && agentMatches(agent.row, task.spec));
    const needs = describeNeeds(task.spec);
    const message = possible ? null : needs ? `queued: no online agent matches ${needs}` : "queued: no agent is online";
    if (message !== task.statusMessage) await this.scheduler.setTaskMessage(task, message);
  }

  private anyFreeSlot(): boolean {
    for (const agent of this.fleet.agents.values()) {
      if (agent.socket && !agent.draining && agent.running.size < agent.row.capacity) return true;
    }
    return false;
  }

  /** Forgets the accept deadlines: the coordinator is stopping; after a start, an attempt left assigned goes with its agent. */
  stop(): void {
    for (const timer of this.acceptTimers.values()) clearTimeout(timer);
    this.acceptTimers.clear();
  }

  accepted(attemptId: string): void {
    clearTimeout(this.acceptTimers.get(attemptId));
    this.acceptTimers.delete(attemptId);
  }

  /** An agent that never confirmed an assignment may not have received it: give the attempt to someone else. */
  private requeueUnaccepted(attemptId: string): void {
    background("requeue", this.requeue(attemptId));
  }

  /** Puts an assigned attempt back in the queue (not accepted in time, or refused by a draining agent). */
  async requeue(attemptId: string): Promise<void> {
    this.accepted(attemptId);
    await this.scheduler.serial.run(async () => {
      const found = this.scheduler.attempt(attemptId);
      const agentId = found?.attempt.agentId;
      const back = await this.scheduler.transition(attemptId, "requeue", { state: "queued", agentId: null });
      if (!back) return;
      this.fleet.free(agentId ?? null, attemptId);
      this.enqueue(back);
    });
  }
}
