// types only from the protocol's index: its zod schemas are loaded at the first frame that needs them (see idle-frames.ts)
import type { AgentMessage, CoordinatorMessage } from "../../shared/protocol/index.ts";
import { NODE_DRAINING_CLOSE } from "../../shared/protocol/close-codes.ts";
import { readAssignFrame } from "./assign-frame.ts";
import { isIdleFrameType, readIdleFrame } from "../../shared/protocol/idle-frames.ts";
import { backoffMs } from "../../shared/retry.ts";

export interface ConnectionHandlers {
  /** called on every (re)connect; returns the hello to send first */
  hello(): AgentMessage;
  message(message: CoordinatorMessage): void;
  closed(code: number, reason: string): void;
}

/**
 * What Bun's WebSocket may hold unsent before binary frames wait: it moves its whole backlog along as
 * the socket takes bytes, so a deep backlog costs CPU per byte (a third of the agent's, unbounded).
 */
const SEND_BACKLOG_BYTES = 2 * 1024 * 1024;
// Bun's client WebSocket has no drain event: whoever waits for room is called back from a poll.
const DRAIN_POLL_MS = 1;

type Schema = typeof import("../../shared/protocol/coordinator-messages.ts").coordinatorMessageSchema;

/**
 * The agent's WebSocket to the coordinator: reconnects by itself until stopped. Given several coordinator
 * nodes, it starts at a random one (agents spread over the nodes) and moves to the next after a connection
 * attempt that failed, or at once when its node says it is draining; a node that dropped a working
 * connection is tried again first.
 */
export class Connection {
  private ws: WebSocket | null = null;
  private failures = 0;
  private current: number;
  /** whether the connection now open (or last open) got a welcome */
  private welcomed = false;
  private stopped = false;
  open = false;
  /** aborted when the connection now open closes; null until it is welcomed */
  private welcomedConnection: AbortController | null = null;
  private readonly waiting = new Set<() => void>();
  private drainPoll: ReturnType<typeof setInterval> | null = null;

  /** the last reason a connection failed, said once until it changes */
  private lastError = "";
  /** the schemas of the frames that are not idle frames, once loaded */
  private schema: Schema | null = null;
  /** frames that came while the schemas loaded, held so that every frame is handled in the order sent */
  private held: { ws: WebSocket; text: string; raw: unknown }[] | null = null;
  /** what waits for the held frames to be handled first (afterReceived) */
  private afterHeld: (() => void)[] = [];

  constructor(
    private readonly urls: string[],
    private readonly token: string,
    private readonly handlers: ConnectionHandlers,
    /** a private CA's PEM to check the coordinator's certificate against (wss://) */
    private readonly ca: string | null = null,
  ) {
    this.current = Math.floor(Math.random() * urls.length);
  }

  /** Aborted when the connection closes, while connected and welcomed; else null. */
  get connected(): AbortSignal | null {
    return this.welcomedConnection?.signal ?? null;
  }

  /** the coordinator node connected to (or being tried) now */
  get url(): string {
    return this.urls[this.current]!;
  }

  connect(): void {
    if (this.stopped) return;
    this.welcomed = false;
    // the token travels in a header, never in the URL
    const ws = new WebSocket(`${this.url.replace(/^http/, "ws")}/agent/v1/connect`, {
      headers: { authorization: `Bearer ${this.token}` },
      ...(this.ca ? { tls: { ca: this.ca } } : {}),
    } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.open = true;
      this.lastError = "";
      ws.send(JSON.stringify(this.handlers.hello()));
    };
    ws.onmessage = (event) => {
      if (typeof event.data === "string") this.receive(ws, event.data, JSON.parse(event.data));
    };
    ws.onclose = (event) => {
      const wasCurrent = this.ws === ws;
      this.open = false;
      this.welcomedConnection?.abort(new Error("disconnected from the coordinator"));
      this.welcomedConnection = null;
      if (!wasCurrent) return;
      this.ws = null;
      this.handlers.closed(event.code, event.reason);
      if (this.stopped) return;
      const draining = event.code === NODE_DRAINING_CLOSE;
      if (draining || !this.welcomed) this.current = (this.current + 1) % this.urls.length;
      // a draining node's agents go at once (with jitter, not all in the same millisecond)
      const delay = draining && this.urls.length > 1 ? backoffMs(0) : backoffMs(this.failures++);
      setTimeout(() => this.connect(), delay);
    };
    ws.onerror = (event) => {
      // onclose follows and schedules the reconnect; this says why (a certificate not trusted, say), once
      const why = (event as ErrorEvent).message ?? "";
      if (why && why !== this.lastError) console.error(`[agent] cannot connect to the coordinator: ${why}`);
      this.lastError = why;
    };
  }

  private receive(ws: WebSocket, text: string, raw: unknown): void {
    if (this.held) {
      this.held.push({ ws, text, raw });
      return;
    }
    // idle frames (and log acks, the most frequent frame by far) need no zod, nor does the usual assignment
    let message: CoordinatorMessage | null = readIdleFrame(raw) ?? readAssignFrame(raw);
    if (!message && !isIdleFrameType((raw as { type?: unknown } | null)?.type)) {
      if (!this.schema) {
        this.loadSchema(ws, text, raw);
        return;
      }
      const parsed = this.schema.safeParse(raw);
      message = parsed.success ? parsed.data : null;
    }
    if (!message) {
      console.error(`[agent] ignoring an invalid frame from the coordinator: ${text.slice(0, 200)}`);
      return;
    }
    if (message.type === "welcome") {
      this.failures = 0;
      this.welcomed = true;
      this.welcomedConnection = new AbortController();
    }
    this.handlers.message(message);
  }

  private loadSchema(ws: WebSocket, text: string, raw: unknown): void {
    this.held = [{ ws, text, raw }];
    void import("../../shared/protocol/coordinator-messages.ts").then(
      ({ coordinatorMessageSchema }) => {
        this.schema = coordinatorMessageSchema;
        const held = this.held!;
        this.held = null;
        // a closed socket's frames go with it, as they would have had they come after its close
        for (const f of held) if (f.ws === this.ws) this.receive(f.ws, f.text, f.raw);
        for (const fn of this.afterHeld.splice(0)) fn();
      },
      (e) => {
        // not to stay deaf (and a SIGTERM waiting behind them for good): the held frames go, as unreadable
        // ones do (an assignment not accepted goes back to the queue), and the next such frame tries again
        console.error(`[agent] ignoring ${this.held!.length} frame(s): the protocol's schemas failed to load: ${e}`);
        this.held = null;
        for (const fn of this.afterHeld.splice(0)) fn();
      },
    );
  }

  /**
   * Runs `fn` once every frame received so far is handled: at once, unless some wait for the schemas to load
   * (a signal must not overtake an assignment that came before it).
   */
  afterReceived(fn: () => void): void {
    if (this.held) this.afterHeld.push(fn);
    else fn();
  }

  send(message: AgentMessage): boolean {
    if (!this.open || !this.ws) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** False while disconnected or while the socket's backlog is full (then `whenWritable` says when to try again). */
  sendBinary(frame: Uint8Array): boolean {
    if (!this.open || !this.ws || this.ws.bufferedAmount > SEND_BACKLOG_BYTES) return false;
    this.ws.send(frame as Uint8Array<ArrayBuffer>);
    return true;
  }

  /** Calls `fn` once binary frames may go again; nothing while disconnected (a reconnect resumes every log). */
  whenWritable(fn: () => void): void {
    if (!this.open) return;
    this.waiting.add(fn);
    this.drainPoll ??= setInterval(() => this.checkWritable(), DRAIN_POLL_MS);
  }

  private checkWritable(): void {
    if (this.open && this.ws && this.ws.bufferedAmount > SEND_BACKLOG_BYTES) return;
    clearInterval(this.drainPoll!);
    this.drainPoll = null;
    const waiting = [...this.waiting];
    this.waiting.clear();
    if (this.open) for (const fn of waiting) fn();
  }

  stop(): void {
    this.stopped = true;
    this.ws?.close(1000, "agent stopping");
  }
}
