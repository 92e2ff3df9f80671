import { background } from "../../shared/background.ts";
import type { TaskSpec } from "../../shared/pipeline/index.ts";
import { queueTimeout } from "../engine/queue-timeout.ts";
import type { Fleet } from "../fleet/fleet.ts";
import { type CheckoutAccess, checkoutUnavailable } from "../projects/checkout.ts";
import type { Projects } from "../projects/projects.ts";
import type { ActiveRun, AttemptRow, TaskRow } from "../runs/active-run.ts";
import type { Scheduler } from "../runs/scheduler.ts";
import { breathe } from "../runs/serial.ts";
import { Lanes, laneKey } from "./lanes.ts";
import { agentMatches, describeNeeds } from "./placement.ts";
import type { Waiting } from "./queue-depth.ts";

/**
 * The dispatch queue's waiting side: attempts wait here in lanes until a pass places them (dispatcher.ts), and are
 * told why they wait, failed when they cannot run, or failed past the queue timeout.
 */
export abstract class WaitingQueue {
  protected readonly queue = new Lanes();

  constructor(
    protected readonly scheduler: Scheduler,
    protected readonly fleet: Fleet,
    private readonly queueTimeoutMs: number,
    protected readonly projects: Pick<Projects, "checkoutAccess" | "knownCheckoutAccess">,
    protected readonly onAttemptEnded: (attempt: AttemptRow) => Promise<void>,
  ) {}

  /** Looks for agents for what waits, now or once the pass under way ends. */
  abstract pump(): void;

  enqueue(attempt: AttemptRow): void {
    const found = this.scheduler.attempt(attempt.id);
    const task = found?.active.tasks.get(attempt.taskId);
    this.queue.add(attempt, task ? laneKey(task.spec) : "", !found || this.scheduler.leases.owns(found.active.run.id));
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

  leave(attempt: AttemptRow): void {
    this.queue.delete(attempt.id);
  }

  /**
   * The queued attempt as the scheduler knows it, or undefined once it left the queue: it moved on (another node's
   * agent took it), or its run's engine stopped it before a crash let it through (it stays off the agents).
   */
  protected live(queued: AttemptRow): { active: ActiveRun; attempt: AttemptRow } | undefined {
    const found = this.scheduler.attempt(queued.id);
    if (!found || found.attempt.state !== "queued") {
      this.queue.delete(queued.id);
      return undefined;
    }
    if (found.attempt.cancelRequestedAt !== null) {
      if (this.scheduler.leases.owns(found.active.run.id)) this.cancel(found.attempt, 0);
      else this.queue.delete(queued.id);
      return undefined;
    }
    return found;
  }

  /**
   * Fails an attempt whose checkout cannot be had (its project was deleted) where this node drives its run; true
   * when it cannot run here, failed or not (another node's engine fails it).
   */
  protected async failUnrunnable(queued: AttemptRow, task: TaskRow, repo: CheckoutAccess | null): Promise<boolean> {
    const run = this.scheduler.attempt(queued.id)!.active.run;
    const unrunnable = checkoutUnavailable(run, task.spec, repo);
    if (!unrunnable) return false;
    if (this.scheduler.leases.owns(run.id)) {
      this.queue.delete(queued.id);
      const ended = await this.scheduler.transition(queued.id, "unrunnable", { state: "failed", error: unrunnable, endedAt: Date.now() });
      if (ended) await this.onAttemptEnded(ended);
    }
    return true;
  }

  /**
   * Every waiting attempt: told why it waits, or failed past the queue timeout (only by the node driving its run).
   * The walk lets the event loop through as it goes: with thousands of attempts queued it took 80–170 ms at once.
   */
  protected async scan(): Promise<void> {
    for (const lane of this.queue.sorted()) {
      let why: string | null | undefined;
      for (const queued of lane.attempts.values()) {
        await breathe();
        const found = this.live(queued);
        if (!found || !this.scheduler.leases.owns(found.active.run.id)) continue;
        const task = found.active.tasks.get(queued.taskId)!;
        const run = found.active.run;
        const repo = run.projectId ? await this.projects.checkoutAccess(run.projectId) : null;
        if (await this.failUnrunnable(queued, task, repo)) continue;
        why ??= this.whyWaiting(task.spec);
        await this.unplaced(queued, task, why);
      }
    }
  }

  /**
   * A task no online agent could take says so instead of waiting silently, and
   * any attempt waiting past the queue timeout fails (the engine decides: queueTimeout).
   */
  private async unplaced(queued: AttemptRow, task: TaskRow, message: string | null): Promise<void> {
    const timedOut = queueTimeout(queued.readyAt, Date.now(), this.queueTimeoutMs);
    if (timedOut) {
      this.queue.delete(queued.id);
      const ended = await this.scheduler.transition(queued.id, "queue_timeout", timedOut);
      if (ended) await this.onAttemptEnded(ended);
      return;
    }
    if (message !== task.statusMessage) await this.scheduler.setTaskMessage(task, message);
  }

  /** Why a task of these needs waits, in the words the CLI and the run page show as they are; null when some agent could take it. */
  private whyWaiting(spec: TaskSpec): string | null {
    const possible = [...this.fleet.agents.values()].some((agent) => agent.socket && agentMatches(agent.row, spec));
    const needs = describeNeeds(spec);
    return possible ? null : needs ? `queued: no online agent matches ${needs}` : "queued: no agent is online";
  }

  protected anyFreeSlot(): boolean {
    for (const agent of this.fleet.agents.values()) {
      if (agent.socket && !agent.draining && agent.running.size < agent.row.capacity) return true;
    }
    return false;
  }
}
