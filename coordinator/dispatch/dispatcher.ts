import { background } from "../../shared/background.ts";
import { ON_AGENT_STATES } from "../../shared/states.ts";
import { preciseNow } from "../../shared/precise-clock.ts";
import type { AttemptState } from "../engine/types.ts";
import { queueWait } from "../metrics/registry.ts";
import type { ActiveRun, AttemptRow, TaskRow } from "../runs/active-run.ts";
import type { Projects } from "../projects/projects.ts";
import type { GroupValues } from "../secrets/group-values.ts";
import { commandDigest } from "../runs/digest.ts";
import { breathe } from "../runs/serial.ts";
import type { PlacedAhead, QueueSink } from "../runs/queue-sink.ts";
import type { Scheduler } from "../runs/scheduler.ts";
import { type CheckoutAccess, checkoutUnavailable } from "../projects/checkout.ts";
import { buildAssignment } from "./assignment.ts";
import type { Fleet, OnlineAgent } from "../fleet/fleet.ts";
import { pickAgent, requested, workspaceHolders } from "./placement.ts";
import { laneKey, queueOrder } from "./lanes.ts";
import { WaitingQueue } from "./waiting-queue.ts";

/** How often a pass looks at every waiting task (messages, queue timeouts). */
const SCAN_EVERY_MS = 1000;
/** How many of another node's queued attempts one read checks (place). */
const CHECK_AHEAD = 63;

/**
 * Pushes queued attempts to agents. The queue is FIFO by run id (a ULID) then
 * attempt id (lanes.ts), and is pumped whenever an attempt is queued or a slot frees up.
 */
export class Dispatcher extends WaitingQueue implements QueueSink {
  private pumping = false;
  private again = false;
  private readonly acceptTimers = new Map<string, Timer>();
  /** when a pass last walked the queue with every slot taken */
  private scannedAt = 0;
  private readonly prefetchedTo = (attempt: string) => this.fleet.prefetches.holderOf(attempt);
  /** an agent whose hello said it takes no prefetches keeps no workspaces (older agents do not say) */
  private readonly keeps = (agent: string) => this.fleet.agents.get(agent)?.prefetch !== false;

  constructor(
    scheduler: Scheduler,
    fleet: Fleet,
    private readonly acceptTimeoutMs: number,
    queueTimeoutMs: number,
    private readonly groupValues: GroupValues,
    projects: Pick<Projects, "checkoutAccess" | "knownCheckoutAccess">,
    onAttemptEnded: (attempt: AttemptRow) => Promise<void>,
  ) {
    super(scheduler, fleet, queueTimeoutMs, projects, onAttemptEnded);
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
    if (this.anyFreeSlot()) await this.place();
    // room left after this node's queue: the runs other nodes hinted at and this node left unread may have work for it
    if (this.anyFreeSlot() && (await this.scheduler.readUnread())) await this.place();
    // Telling waiting tasks why they wait and failing those past the queue timeout walks the whole queue: done once
    // a second, not at every pump, or each dispatch would pay a walk of the whole queue.
    const now = Date.now();
    if (now - this.scannedAt < SCAN_EVERY_MS) return;
    this.scannedAt = now;
    await this.scan();
  }

  /**
   * Gives queued attempts to agents in queue order while slots are free, those of runs this node drives first: every
   * node places its own runs' attempts, so nodes seldom race for one (a race costs the losers a write). Each lane's
   * head is tried in turn, the oldest first; a lane whose head finds no agent is done for this pass (no attempt of it
   * would find one). Another node's attempts are read again before they are offered (`check`). The pass's
   * assignments are written together (one commit), each sent to its agent once stored.
   */
  private async place(): Promise<void> {
    const heads = this.queue.sorted().map((lane) => {
      const it = lane.attempts.values();
      return { lane, it, ahead: [] as AttemptRow[], head: it.next().value as AttemptRow | undefined };
    });
    const first = (a: (typeof heads)[number], b: (typeof heads)[number]) =>
      a.lane.ours !== b.lane.ours ? a.lane.ours : queueOrder(a.head!, b.head!) < 0;
    const checked = new Set<string>();
    const placing: Promise<void>[] = [];
    while (this.anyFreeSlot()) {
      await breathe();
      let oldest: (typeof heads)[number] | undefined;
      for (const h of heads) if (h.head && (!oldest || first(h, oldest))) oldest = h;
      if (!oldest) break;
      const queued = oldest.head!;
      if (!oldest.lane.ours && !checked.has(queued.id)) {
        // a Map's iterator sees entries added meanwhile and skips deleted ones: the lane is read as it is now
        while (oldest.ahead.length < CHECK_AHEAD) {
          const next = oldest.it.next();
          if (next.done) break;
          oldest.ahead.push(next.value);
        }
        await this.check([queued, ...oldest.ahead], checked);
        oldest.ahead = oldest.ahead.filter((a) => this.scheduler.attempt(a.id)?.attempt.state === "queued");
        if (this.scheduler.attempt(queued.id)?.attempt.state !== "queued") {
          oldest.head = oldest.ahead.shift() ?? oldest.it.next().value;
          continue;
        }
      }
      oldest.head = oldest.ahead.shift() ?? oldest.it.next().value;
      if ((await this.offer(queued, placing)) === "no agent") oldest.head = undefined;
    }
    const failed = (await Promise.allSettled(placing)).find((p) => p.status === "rejected");
    if (failed) throw failed.reason;
  }

  /**
   * Reads again attempts of runs other nodes drive, in one query: their nodes place them too, and do not say so (only
   * the attempts' ends and a run's new attempts are hinted), so many here may be taken already.
   */
  private async check(attempts: AttemptRow[], checked: Set<string>): Promise<void> {
    for (const a of attempts) checked.add(a.id);
    await this.scheduler.readAttemptRows(attempts.map((a) => a.id));
  }

  /**
   * Tries to give one queued attempt to an agent; "no agent" when none of this node can take it now. The agent's
   * slot is taken at once (the pass's next offers see it taken) and the assignment joins `placing`.
   */
  private async offer(queued: AttemptRow, placing: Promise<void>[]): Promise<"done" | "no agent"> {
    const found = this.live(queued);
    if (!found) return "done";
    const task = found.active.tasks.get(queued.taskId)!;
    const run = found.active.run;
    const repo = run.projectId ? await this.projects.checkoutAccess(run.projectId) : null;
    if (await this.failUnrunnable(queued, task, repo)) return "done";
    const agent = pickAgent(this.fleet.agents.values(), task.spec, workspaceHolders(found.active, task, this.prefetchedTo, this.keeps));
    if (!agent) return "no agent";
    if (task.statusMessage) await this.scheduler.setTaskMessage(task, null);
    this.queue.delete(queued.id);
    this.fleet.take(agent, queued.id, requested(task.spec));
    placing.push(this.assign(found.active, queued, task, agent, repo));
    return "done";
  }

  /** Stores the attempt's assignment to `agent`, whose slot it holds, and sends it; the slot frees if it was not stored. */
  private async assign(active: ActiveRun, queued: AttemptRow, task: TaskRow, agent: OnlineAgent, repo: CheckoutAccess | null): Promise<void> {
    const { arch, patch } = assignment(task, agent);
    let assigned: AttemptRow | undefined;
    try {
      assigned = await this.scheduler.transition(queued.id, "assign", patch);
    } catch (e) {
      // not stored: it waits in the queue as before
      this.queue.add(queued, laneKey(task.spec), this.scheduler.leases.owns(active.run.id));
      throw e;
    } finally {
      if (!assigned) this.fleet.free(agent.row.id, queued.id);
    }
    if (assigned) await this.deliver(active, assigned, agent, arch, repo);
  }

  /** Sends a stored assignment to its agent; one not accepted in time (or not sent) goes back to the queue. */
  private async deliver(active: ActiveRun, assigned: AttemptRow, agent: OnlineAgent, arch: string, repo: CheckoutAccess | null): Promise<void> {
    queueWait.observe((preciseNow() - assigned.readyAt) / 1000);
    this.acceptTimers.set(
      assigned.id,
      setTimeout(() => this.requeueUnaccepted(assigned.id), this.acceptTimeoutMs),
    );
    const values = await this.groupValues.resolve(active.run.group);
    agent.socket?.send({ type: "assign", assignment: buildAssignment(active, assigned, arch, values, repo) });
  }

  /**
   * Gives attempts about to be made to agents free for them, in the write that makes them (one commit, not two): they
   * are inserted assigned, where no attempt waits in the queue before them; the others, and all of them when something
   * waits, join the queue. No other node can see an attempt before it is stored, so none assigns it meanwhile.
   * Only what a pass would decide at once: a task telling why it waits, or whose checkout access is not known yet,
   * waits for a pass.
   */
  placeAhead(active: ActiveRun, created: AttemptRow[]): PlacedAhead | null {
    if (this.queue.size > 0 || !this.anyFreeSlot()) return null;
    const run = active.run;
    const repo = run.projectId ? this.projects.knownCheckoutAccess(run.projectId) : null;
    if (repo === undefined) return null;
    const placed: { attempt: AttemptRow; agent: OnlineAgent; arch: string }[] = [];
    for (const attempt of created) {
      const task = active.tasks.get(attempt.taskId)!;
      if (task.statusMessage || checkoutUnavailable(run, task.spec, repo)) continue;
      const agent = pickAgent(this.fleet.agents.values(), task.spec, workspaceHolders(active, task, this.prefetchedTo, this.keeps));
      if (!agent) continue;
      this.fleet.take(agent, attempt.id, requested(task.spec));
      const { arch, patch } = assignment(task, agent);
      Object.assign(attempt, patch);
      placed.push({ attempt, agent, arch });
    }
    if (placed.length === 0) return null;
    return {
      placed: new Set(placed.map((p) => p.attempt.id)),
      sent: () => {
        for (const { attempt, agent, arch } of placed) {
          background("assign", this.deliver(active, attempt, agent, arch, repo));
        }
      },
      dropped: () => {
        for (const { attempt, agent } of placed) this.fleet.free(agent.row.id, attempt.id);
      },
    };
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

/** The move that gives an attempt of `task` to `agent`, and the arch it runs as. */
function assignment(task: TaskRow, agent: OnlineAgent) {
  const arch = task.spec.arch ?? agent.row.archs[0]!;
  const patch = { state: "assigned" as const, agentId: agent.row.id, assignedAt: Date.now(), digest: commandDigest(task.spec, arch) };
  return { arch, patch };
}
