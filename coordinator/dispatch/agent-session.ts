import { z } from "zod";
import { ON_AGENT_STATES } from "../../shared/states.ts";
import {
  type AgentMessage,
  agentMessageSchema,
  type CoordinatorMessage,
  decodeLogChunk,
  heartbeatSeq,
  streamStep,
  type Hello,
  MAX_CONTROL_FRAME_BYTES,
  MAX_LOG_FRAME_BYTES,
  PROTOCOL_VERSION,
  versionMismatch,
} from "../../shared/protocol/index.ts";
import { DiskFullError, LogGapError } from "../logs/log-errors.ts";
import type { AgentSocket, OnlineAgent } from "../fleet/fleet.ts";
import type { FleetServices } from "./fleet-services.ts";

const log = (msg: string) => console.error(`[fleet] ${msg}`);

/** How many of an agent's accepts and step starts may wait for their commit while its next frames go on. */
const MAX_UNSETTLED = 64;

/** the longest an ack the agent is in no hurry for waits for others to go with */
const UNHURRIED_ACK_MS = 200;

/** One agent connection: validates every frame, and only ever touches this agent's own attempts. */
export class AgentSession {
  private agent: OnlineAgent | null = null;
  private readonly helloTimer: Timer;
  /** control frames are handled one after another, in the order the agent sent them */
  private chain: Promise<void> = Promise.resolve();
  /** frames waiting on the chain */
  private queued = 0;
  /** accepts and step starts handled whose writes have not committed yet (handle) */
  private unsettled = 0;
  /** log acks waiting to go out: one per step per tick, however many chunks arrived */
  private readonly acks = new Map<string, { attempt: string; step: number; stored: number }>();
  private readonly reportAcks: string[] = [];
  private acksScheduled = false;
  /** acks the agent is in no hurry for: they go with the next acks that are (an attempt's result), or after a while */
  private readonly unhurriedAcks: string[] = [];
  private unhurriedTimer: Timer | null = null;

  constructor(
    private readonly socket: AgentSocket,
    private readonly services: FleetServices,
    private readonly remote: string,
    private readonly groupLock: string | null,
  ) {
    this.helloTimer = setTimeout(() => this.refuse("no_hello", "no hello within 10 s"), 10_000);
  }

  private send(message: CoordinatorMessage): void {
    this.socket.send(message);
  }

  private protocolError(message: string): void {
    log(`protocol error from ${this.agent?.row.name ?? this.remote}: ${message}`);
    this.send({ type: "error", code: "protocol_error", message });
  }

  private refuse(code: string, message: string): void {
    log(`refused ${this.remote}: ${message}`);
    this.send({ type: "refuse", code, message });
    this.socket.close(4000, code);
  }

  onText(text: string): void {
    // A heartbeat, nearly every frame of an idle fleet, is handled at once (no promises, no zod) when no frame before
    // it waits its turn; any other frame, or one not a plain heartbeat, takes its turn.
    if (this.queued === 0 && this.agent) {
      const seq = heartbeatSeq(text);
      if (seq !== null) {
        this.heartbeat(this.agent, seq);
        return;
      }
    }
    this.queued++;
    this.chain = this.chain
      .then(() => this.handleText(text))
      // one frame that failed must not stop the frames after it
      .catch((e) => console.error("[fleet] handling a frame failed:", e))
      .then(() => {
        this.queued--;
      });
  }

  private async handleText(text: string): Promise<void> {
    if (text.length > MAX_CONTROL_FRAME_BYTES) return this.protocolError(`control frame of ${text.length} bytes is too large`);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return this.protocolError("control frame is not JSON");
    }
    const parsed = agentMessageSchema.safeParse(raw);
    if (!parsed.success) return this.protocolError(`invalid frame: ${z.prettifyError(parsed.error)}`);
    const message = parsed.data;
    if (message.type === "hello") return this.hello(message);
    if (!this.agent) return this.protocolError(`${message.type} before hello`);
    await this.handle(this.agent, message);
  }

  private async hello(hello: Hello): Promise<void> {
    clearTimeout(this.helloTimer);
    if (this.agent) return this.protocolError("hello sent twice");
    if (hello.protocol !== PROTOCOL_VERSION) {
      return this.refuse("incompatible_version", versionMismatch(hello.protocol, hello.version));
    }
    if (this.groupLock !== null && hello.group !== this.groupLock) {
      this.refuse("wrong_group", `this registration token is for group ${this.groupLock}, not ${hello.group}`);
      return;
    }
    const joined = await this.services.join(hello, this.socket);
    if (!joined.ok) return this.refuse("bad_credential", joined.message);
    this.agent = joined.agent;
  }

  private heartbeat(agent: OnlineAgent, seq: number): void {
    const { fleet } = this.services;
    // An agent whose lease lapsed is fenced: renewing it now would let its steps run beside their replacements.
    if (fleet.agents.get(agent.row.id) !== agent) {
      this.socket.close(4002, "lease lapsed");
      return;
    }
    // answered once stored, not at all when the write failed or the lease lapsed meanwhile (the agent's clock runs
    // out); the agent's next frames do not wait for it
    fleet.heartbeat(agent, () => fleet.agents.get(agent.row.id) === agent && this.send({ type: "lease", seq }));
  }

  private owns(agent: OnlineAgent, attemptId: string): boolean {
    const found = this.services.scheduler.attempt(attemptId);
    return (
      !!found &&
      found.attempt.agentId === agent.row.id &&
      ON_AGENT_STATES.has(found.attempt.state)
    );
  }

  private async handle(agent: OnlineAgent, message: Exclude<AgentMessage, Hello>): Promise<void> {
    const { fleet } = this.services;
    if (message.type === "heartbeat") return this.heartbeat(agent, message.seq);
    if (message.type === "draining") {
      return fleet.drain(agent);
    }
    if (message.type === "cleanup_done") {
      await this.services.cleanups.done(agent, message);
      this.ack(message.id);
      return;
    }
    if (!this.owns(agent, message.attempt)) {
      // A report for an attempt that already ended is a harmless resend: acknowledge it so the agent drops it.
      const ended = this.services.scheduler.attempt(message.attempt)?.attempt.agentId === agent.row.id;
      if (!ended) this.protocolError(`attempt ${message.attempt} is not running on this agent`);
      // It runs something no longer its own (an assignment it took up after it went back to the queue, say,
      // when the agent stalled): it stops at once, whoever runs the attempt now.
      if (message.type === "accept" || message.type === "step_start") this.send({ type: "cancel", attempt: message.attempt, graceMs: 0 });
      this.ack(message.id);
      return;
    }
    if ((message.type === "accept" || message.type === "step_start") && this.unsettled < MAX_UNSETTLED) {
      // Its change is queued now, in frame order (an attempt's later moves go after it in the same turns), but the
      // frames after it do not wait for its commit: a short step's accept, start, end and result arrive together,
      // and each waiting for the commit of the one before cost every attempt four commits in a row.
      this.unsettled++;
      this.applyAndAnswer(agent, message)
        .catch((e) => console.error("[fleet] handling a frame failed:", e))
        .finally(() => this.unsettled--);
      return;
    }
    return this.applyAndAnswer(agent, message);
  }

  /** Applies a report of one of this agent's attempts and answers it: an ack once stored, an error if it failed. */
  private async applyAndAnswer(agent: OnlineAgent, message: Extract<AgentMessage, { attempt: string }>): Promise<void> {
    let acked = false;
    const ackNow = () => {
      acked = true;
      this.ack(message.id);
      this.flushAcks();
    };
    try {
      const later = await this.apply(message, ackNow);
      // acknowledged once stored, or once storing failed (then the attempt's result says so), off the frames' chain
      if (later) {
        acked = true;
        const ackStored = () => this.ackUnhurried(message.id);
        later.stored.then(ackStored, ackStored);
      } else if (!acked && (message.type === "accept" || message.type === "step_start")) {
        acked = true;
        this.ackUnhurried(message.id);
      }
    } catch (e) {
      // A report that cannot be applied still gets an answer, and its attempt ends (as an infrastructure
      // error, retried elsewhere) rather than staying running until the agent reconnects.
      log(`applying ${message.type} of attempt ${message.attempt} from ${agent.row.name} failed: ${(e as Error).message}`);
      this.send({
        type: "error",
        code: "internal",
        message: `coordinator failed to apply ${message.type}: ${(e as Error).message}`,
      });
      await this.services.failAttempt(
        message.attempt,
        `coordinator failed to apply the agent's ${message.type} report: ${(e as Error).message}`,
      );
    }
    if (!acked) this.ack(message.id);
  }

  /** Applies a report; for a step's end, says when its log is stored (the report's ack waits for that). */
  private async apply(
    message: Extract<AgentMessage, { attempt: string }>,
    ackNow: () => void,
  ): Promise<{ stored: Promise<void> } | undefined> {
    const { reports, dispatcher } = this.services;
    switch (message.type) {
      case "accept":
        dispatcher.accepted(message.attempt);
        await reports.accept(message.attempt);
        break;
      case "reject":
        await dispatcher.requeue(message.attempt);
        break;
      case "step_start":
        await reports.stepStart(message.attempt, message.step, message.at);
        break;
      case "step_end":
        return { stored: reports.stepEnd(message.attempt, message.step, message) };
      case "result":
        await reports.result(message, ackNow);
        break;
    }
  }

  onBinary(frame: Uint8Array): void {
    const agent = this.agent;
    if (!agent) {
      this.protocolError("log chunk before hello");
      return;
    }
    if (frame.length > MAX_LOG_FRAME_BYTES) {
      this.protocolError(`log frame of ${frame.length} bytes is too large`);
      return;
    }
    let chunk: ReturnType<typeof decodeLogChunk>;
    try {
      chunk = decodeLogChunk(frame);
    } catch (e) {
      this.protocolError(String((e as Error).message));
      return;
    }
    if (!this.owns(agent, chunk.attempt)) {
      this.protocolError(`attempt ${chunk.attempt} is not running on this agent`);
      return;
    }
    const found = this.services.scheduler.attempt(chunk.attempt)!;
    const steps = found.active.tasks.get(found.attempt.taskId)?.spec.steps.length ?? 0;
    if (streamStep(chunk.step) >= steps) {
      this.protocolError(`attempt ${chunk.attempt} has no step ${chunk.step}`);
      return;
    }
    const key = { run: found.active.run.id, attempt: chunk.attempt, step: chunk.step };
    // an upload of the log is still being written (the agent gave it up; this node has not seen it end yet):
    // the chunk waits, as do the log's chunks after it, in the order they came
    const receiving = this.services.logs.receivingUpload(key);
    if (receiving) {
      void receiving.then(() => this.onBinary(frame));
      return;
    }
    try {
      const stored = this.services.logs.append(key, chunk.offset, chunk.data);
      this.acks.set(`${chunk.attempt}/${chunk.step}`, { attempt: chunk.attempt, step: chunk.step, stored });
      this.scheduleAcks();
    } catch (e) {
      if (e instanceof LogGapError) {
        this.protocolError(e.message);
        return;
      }
      // not written, so not acknowledged: the attempt fails saying why, instead of wedging
      if (e instanceof DiskFullError) {
        this.services.diskFull(key, e);
        return;
      }
      throw e;
    }
  }

  private ack(id: string): void {
    this.reportAcks.push(id);
    this.scheduleAcks();
  }

  /**
   * An accept's or a step's ack only lets the agent forget a report (or a step's log) it would send again after a
   * reconnect, so it waits for the attempt's result's, which the agent waits for: a task that does little then costs
   * one ack frame, not four (sends were a twentieth of the coordinator's work per task).
   */
  private ackUnhurried(id: string): void {
    this.unhurriedAcks.push(id);
    this.unhurriedTimer ??= setTimeout(() => this.flushAcks(), UNHURRIED_ACK_MS);
  }

  /** Acks go out once per tick, however many reports and chunks arrived in it. */
  private scheduleAcks(): void {
    if (this.acksScheduled) return;
    this.acksScheduled = true;
    setImmediate(() => this.flushAcks());
  }

  private flushAcks(): void {
    this.acksScheduled = false;
    for (const ack of this.acks.values()) this.send({ type: "log_ack", ...ack });
    this.acks.clear();
    if (this.unhurriedTimer) {
      clearTimeout(this.unhurriedTimer);
      this.unhurriedTimer = null;
    }
    const ids = [...this.unhurriedAcks.splice(0), ...this.reportAcks.splice(0)];
    if (ids.length) this.send({ type: "ack", ids });
  }

  onClose(): void {
    clearTimeout(this.helloTimer);
    if (this.unhurriedTimer) clearTimeout(this.unhurriedTimer);
    if (this.agent) this.services.disconnected(this.agent, this.socket);
  }
}
