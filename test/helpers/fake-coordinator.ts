import type { ServerWebSocket } from "bun";
import { type AgentMessage, type AssignedStep, type Assignment, decodeLogChunk } from "../../shared/protocol/index.ts";

/** An assignment of `steps` with nothing else to it (no workspace, checkout or secrets) but what `more` sets. */
export function assignmentOf(attempt: string, steps: AssignedStep[], more: Partial<Assignment> = {}): Assignment {
  return {
    attempt,
    run: `run-${attempt}`,
    task: "build",
    number: 1,
    arch: "amd64",
    env: {},
    workspace: null,
    timeoutMs: 60_000,
    secrets: [],
    steps,
    sandbox: false,
    network: false,
    memoryBytes: null,
    checkout: null,
    ...more,
  };
}

/**
 * A stand-in coordinator for agent tests that need an assignment the real coordinator cannot build yet:
 * it welcomes real agent processes, hands each connected agent the assignments given to `assign`, acks
 * every report and log chunk, and collects what the agent sent back.
 */
export interface FakeCoordinator {
  url: string;
  /** Resolves once an agent named `agent` has connected. */
  connected(agent: string): Promise<void>;
  /**
   * Sends the assignment to the agent; resolves with its reports and logs once its result arrives, or fails
   * after `timeoutMs` saying what did arrive (reports, reconnects, the agent's output if `outputOf` gave it).
   */
  assign(agent: string, assignment: Assignment, timeoutMs?: number): Promise<AttemptOutcome>;
  /** Where the agent's own output is read, for what a failed `assign` says. */
  outputOf(agent: string, text: () => string): void;
  /** Tells the agent to stop the attempt, as a run's cancel does. */
  cancel(agent: string, attempt: string, graceMs?: number): void;
  stop(): void;
}

export interface AttemptOutcome {
  reports: AgentMessage[];
  result: Extract<AgentMessage, { type: "result" }>;
  /** each step's log, by step index */
  logs: Map<number, string>;
}

interface Pending {
  reports: AgentMessage[];
  logs: Map<number, Buffer>;
  done: (o: AttemptOutcome) => void;
}

export function startFakeCoordinator(): FakeCoordinator {
  const sockets = new Map<string, ServerWebSocket<{ name: string }>>();
  const waiting = new Map<string, () => void>();
  const pending = new Map<string, Pending>();
  const closes = new Map<string, number>();
  const outputs = new Map<string, () => string>();
  const server = Bun.serve<{ name: string }>({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      if (new URL(req.url).pathname === "/agent/v1/connect" && srv.upgrade(req, { data: { name: "" } })) return;
      return new Response("not here", { status: 404 });
    },
    websocket: {
      close(ws) {
        closes.set(ws.data.name, (closes.get(ws.data.name) ?? 0) + 1);
      },
      message(ws, raw) {
        if (typeof raw !== "string") {
          const chunk = decodeLogChunk(new Uint8Array(raw));
          const p = pending.get(chunk.attempt);
          if (!p) return;
          const bytes = Buffer.concat([(p.logs.get(chunk.step) ?? Buffer.alloc(0)).subarray(0, chunk.offset), chunk.data]);
          p.logs.set(chunk.step, bytes);
          ws.send(JSON.stringify({ type: "log_ack", attempt: chunk.attempt, step: chunk.step, stored: bytes.length }));
          return;
        }
        const m = JSON.parse(raw) as AgentMessage;
        if (m.type === "hello") {
          ws.data.name = m.name;
          sockets.set(m.name, ws);
          ws.send(JSON.stringify({ type: "welcome", agentId: `id-${m.name}`, heartbeatMs: 5000, leaseTtlMs: 30000, resume: [] }));
          waiting.get(m.name)?.();
          return;
        }
        // the lease renewal the agent waits for: without it, it ends its steps when the TTL runs out (fencing)
        if (m.type === "heartbeat") ws.send(JSON.stringify({ type: "lease", seq: m.seq }));
        if (!("attempt" in m)) return;
        ws.send(JSON.stringify({ type: "ack", ids: [m.id] }));
        const p = pending.get(m.attempt);
        if (!p) return;
        p.reports.push(m);
        if (m.type === "result") {
          pending.delete(m.attempt);
          p.done({ reports: p.reports, result: m, logs: new Map([...p.logs].map(([step, b]) => [step, b.toString()])) });
        }
      },
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    connected: (agent) => (sockets.has(agent) ? Promise.resolve() : new Promise((resolve) => waiting.set(agent, resolve))),
    assign(agent, assignment, timeoutMs = 45_000) {
      const ws = sockets.get(agent);
      if (!ws) throw new Error(`agent ${agent} is not connected`);
      const attempt = assignment.attempt;
      return new Promise((done, fail) => {
        const timer = setTimeout(() => {
          const reports = pending.get(attempt)?.reports.map((r) => r.type) ?? [];
          pending.delete(attempt);
          const output = outputs.get(agent)?.().slice(-4000) ?? "(not given)";
          fail(
            new Error(
              `no result for ${attempt} from agent ${agent} in ${timeoutMs} ms; reports: [${reports.join(", ")}]; its socket closed ${closes.get(agent) ?? 0} time(s); its output ends:\n${output}`,
            ),
          );
        }, timeoutMs);
        const finished = (outcome: AttemptOutcome) => {
          clearTimeout(timer);
          done(outcome);
        };
        pending.set(attempt, { reports: [], logs: new Map(), done: finished });
        ws.send(JSON.stringify({ type: "assign", assignment }));
      });
    },
    outputOf: (agent, text) => void outputs.set(agent, text),
    cancel: (agent, attempt, graceMs = 1000) => sockets.get(agent)?.send(JSON.stringify({ type: "cancel", attempt, graceMs })),
    stop: () => void server.stop(true),
  };
}
