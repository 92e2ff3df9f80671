/**
 * A scriptable fake agent: speaks the real protocol over a real WebSocket and spawns nothing.
 * Each `run:` step is read as a tiny script, one command a line:
 *   echo TEXT   the step's output (a line)
 *   bytes N     N bytes of output (lines of x), sent as fast as the socket takes them
 *   sleep S     wait S seconds (fractions allowed)
 *   exit N      end the step with exit code N (a non-zero code fails the attempt)
 *   hold        wait until the test calls release() or the coordinator cancels
 * Anything else is ignored. Reports are kept until acknowledged and resent after a reconnect, as the
 * real agent does; `disconnect()` drops the connection and `connect()` comes back, `crash()` forgets
 * everything like a killed process. `maxHeld` is the most attempts it ever held at once: an attempt is
 * held from its assignment until the coordinator acknowledges its result.
 */
import { newId } from "../../shared/ids.ts";
import { scheduleHeartbeats } from "../../shared/protocol/heartbeat-schedule.ts";
import {
  type AgentMessage,
  type Assignment,
  type CoordinatorMessage,
  encodeLogChunk,
  PROTOCOL_VERSION,
  type Report,
} from "../../shared/protocol/index.ts";

export interface FakeAgentOptions {
  url: string;
  token: string;
  name: string;
  capacity?: number;
  group?: string;
  labels?: Record<string, string>;
  dynamic?: boolean;
  /** takes assignments without ever answering them (no accept, no reports) */
  silent?: boolean;
}

interface Held {
  assignment: Assignment;
  /** bytes sent per step, kept for resending from the acknowledged offset */
  output: Map<number, Uint8Array>;
  stopped: boolean;
  wake: (() => void) | null;
}

const encoder = new TextEncoder();

export class FakeAgent {
  id: string | undefined;
  credential: string | undefined;
  private ws: WebSocket | null = null;
  private stopHeartbeats: (() => void) | null = null;
  private readonly pending = new Map<string, Extract<Report, { attempt: string }>>();
  readonly held = new Map<string, Held>();
  maxHeld = 0;
  /** every assignment received, in order */
  readonly assigned: string[] = [];
  /** attempt → how it ended here */
  readonly results = new Map<string, string>();
  /** the welcome of the latest connection */
  welcomed: Extract<CoordinatorMessage, { type: "welcome" }> | undefined;
  /** every frame the coordinator sent after its welcome, in order */
  readonly received: CoordinatorMessage[] = [];
  /** `attempt/step` → the highest offset the coordinator acknowledged as stored */
  readonly acked = new Map<string, number>();

  constructor(readonly options: FakeAgentOptions) {}

  get capacity(): number {
    return this.options.capacity ?? 1;
  }

  /** Opens the connection and resolves once welcomed. */
  connect(): Promise<void> {
    const ws = new WebSocket(`${this.options.url.replace(/^http/, "ws")}/agent/v1/connect`, {
      headers: { authorization: `Bearer ${this.options.token}` },
    } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    return new Promise((resolve, reject) => {
      ws.onopen = () => ws.send(JSON.stringify(this.hello()));
      ws.onerror = () => reject(new Error(`${this.options.name}: connection failed`));
      ws.onclose = () => {
        if (this.ws === ws) this.stopHeartbeat();
        reject(new Error(`${this.options.name}: closed before welcome`));
      };
      ws.onmessage = (e) => {
        const m = JSON.parse(String(e.data)) as CoordinatorMessage;
        if (m.type === "welcome") {
          this.welcome(m);
          resolve();
        } else this.onMessage(m);
      };
    });
  }

  /** Drops the connection; held attempts and unacknowledged reports are kept for the reconnect. */
  disconnect(): void {
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }

  /** Like kill -9: the connection and everything in flight are gone. */
  crash(): void {
    this.disconnect();
    for (const h of this.held.values()) {
      h.stopped = true;
      h.wake?.();
    }
    this.held.clear();
    this.pending.clear();
  }

  /** Lets `hold` steps go on (all attempts, or one). */
  release(attempt?: string): void {
    for (const [id, h] of this.held) if (!attempt || id === attempt) h.wake?.();
  }

  private hello(): AgentMessage {
    const listed = new Set<string>([...this.held.keys()]);
    for (const r of this.pending.values()) listed.add(r.attempt);
    return {
      type: "hello",
      protocol: PROTOCOL_VERSION,
      version: "fake",
      id: this.id,
      credential: this.credential,
      name: this.options.name,
      archs: ["amd64"],
      group: this.options.group ?? "default",
      labels: this.options.labels ?? {},
      capacity: this.capacity,
      resources: { cpu: 64, memoryBytes: 2 ** 40 },
      dynamic: this.options.dynamic ?? false,
      executor: "host",
      limits: { memory: null, pids: null },
      host: "fake",
      workDir: `/nonexistent/${this.options.name}`,
      running: [...listed].map((attempt) => ({ attempt, steps: [] })),
    };
  }

  private welcome(m: Extract<CoordinatorMessage, { type: "welcome" }>): void {
    this.welcomed = m;
    this.id = m.agentId;
    this.credential = m.credential ?? this.credential;
    for (const r of m.resume) {
      if (r.action === "abandon") {
        const h = this.held.get(r.attempt);
        if (h) {
          h.stopped = true;
          h.wake?.();
          this.held.delete(r.attempt);
        }
        for (const [id, report] of this.pending) if (report.attempt === r.attempt) this.pending.delete(id);
        continue;
      }
      const h = this.held.get(r.attempt);
      for (const s of r.steps) {
        const out = h?.output.get(s.index);
        if (out && s.stored < out.length) this.sendChunk(r.attempt, s.index, s.stored, out.subarray(s.stored));
      }
    }
    for (const report of this.pending.values()) this.sendRaw(report);
    this.stopHeartbeats = scheduleHeartbeats(m, () => this.sendRaw({ type: "heartbeat", seq: 0 }));
  }

  private stopHeartbeat(): void {
    this.stopHeartbeats?.();
    this.stopHeartbeats = null;
  }

  private onMessage(m: CoordinatorMessage): void {
    this.received.push(m);
    switch (m.type) {
      case "assign":
        if (this.options.silent) return;
        if (!this.held.has(m.assignment.attempt) && !this.results.has(m.assignment.attempt)) void this.run(m.assignment);
        return;
      case "cancel": {
        const h = this.held.get(m.attempt);
        if (h) {
          h.stopped = true;
          h.wake?.();
        }
        return;
      }
      case "log_ack": {
        const k = `${m.attempt}/${m.step}`;
        this.acked.set(k, Math.max(this.acked.get(k) ?? 0, m.stored));
        return;
      }
      case "ack":
        for (const id of m.ids) {
          const report = this.pending.get(id);
          this.pending.delete(id);
          if (report?.type === "result") this.held.delete(report.attempt);
        }
        return;
      default:
        return;
    }
  }

  /** Sends a frame as is: for tests of what the coordinator does with odd or repeated ones. */
  sendRaw(m: AgentMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  private report(r: Extract<Report, { attempt: string }>): void {
    this.pending.set(r.id, r);
    this.sendRaw(r);
  }

  private sendChunk(attempt: string, step: number, offset: number, data: Uint8Array): void {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(encodeLogChunk({ attempt, step, offset, data }) as Uint8Array<ArrayBuffer>);
    }
  }

  private async run(a: Assignment): Promise<void> {
    const h: Held = { assignment: a, output: new Map(), stopped: false, wake: null };
    this.held.set(a.attempt, h);
    this.assigned.push(a.attempt);
    this.maxHeld = Math.max(this.maxHeld, this.held.size);
    const base = () => ({ id: newId(), attempt: a.attempt });
    this.report({ type: "accept", ...base() });
    let failedCode: number | null = null;
    for (const [index, step] of a.steps.entries()) {
      if (h.stopped || failedCode !== null) break;
      this.report({ type: "step_start", ...base(), step: index, at: Date.now() });
      let out: Uint8Array = new Uint8Array(0);
      let code = 0;
      let size = 0;
      for (const line of step.kind === "run" ? step.command.split("\n") : []) {
        const [verb, ...rest] = line.trim().split(/\s+/);
        const arg = rest.join(" ");
        if (verb === "echo") {
          const bytes = encoder.encode(`${arg}\n`);
          this.sendChunk(a.attempt, index, out.length, bytes);
          out = concat(out, bytes);
          h.output.set(index, out);
        } else if (verb === "bytes") {
          // not kept for resending: a step this large is for tests of the coordinator's limits
          const line = encoder.encode(`${"x".repeat(99)}\n`);
          const chunk = new Uint8Array(64 * 1024).map((_, i) => line[i % 100]!);
          let sent = 0;
          for (let total = Number(arg); sent < total && !h.stopped; ) {
            const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
            this.sendChunk(a.attempt, index, sent, piece);
            sent += piece.length;
            while ((this.ws?.bufferedAmount ?? 0) > 4 * 1024 * 1024 && !h.stopped) await Bun.sleep(1);
          }
          size = sent;
        } else if (verb === "sleep") await this.pause(h, Number(arg) * 1000);
        else if (verb === "hold") await this.pause(h, Number.POSITIVE_INFINITY);
        else if (verb === "exit") {
          code = Number(arg);
          break;
        }
        if (h.stopped) break;
      }
      if (h.stopped) break;
      size += out.length;
      this.report({ type: "step_end", ...base(), step: index, at: Date.now(), exitCode: code, error: null, logSize: size });
      if (code !== 0) failedCode = code;
    }
    if (!this.held.has(a.attempt)) return; // crashed or abandoned meanwhile
    const status = h.stopped ? "stopped" : failedCode !== null ? "failed" : "success";
    this.results.set(a.attempt, status);
    this.report({
      type: "result",
      ...base(),
      at: Date.now(),
      status,
      exitCode: h.stopped ? null : (failedCode ?? 0),
      error: null,
      cpuSeconds: 0,
      peakRssBytes: 0,
    });
  }

  private pause(h: Held, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => done(), ms) : null;
      const done = () => {
        if (timer) clearTimeout(timer);
        h.wake = null;
        resolve();
      };
      h.wake = done;
    });
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Starts `count` fake agents named `${prefix}-${i}` and resolves once all are welcomed. */
export async function startFakeAgents(
  options: Omit<FakeAgentOptions, "name"> & { count: number; prefix?: string },
): Promise<FakeAgent[]> {
  const agents: FakeAgent[] = [];
  const joined: Promise<void>[] = [];
  for (let i = 0; i < options.count; i++) {
    const agent = new FakeAgent({ ...options, name: `${options.prefix ?? "fake"}-${i}` });
    agents.push(agent);
    joined.push(agent.connect());
    // spread the connects a little so a thousand agents do not arrive in one tick
    if (i % 100 === 99) await Bun.sleep(20);
  }
  await Promise.all(joined);
  return agents;
}
