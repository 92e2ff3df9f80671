/**
 * Simulated agents: speak the real protocol, spawn nothing. Each takes an
 * assignment, accepts it, reports every step with a one-line log, and reports
 * success. Run as a separate process so the coordinator is measured alone:
 *   bun test/helpers/sim-agents.ts --coordinator URL --token T --count 50 --capacity 4
 * Prints "ready N" once all N agents are registered.
 */
import { parseArgs } from "node:util";
import { newId } from "../../shared/ids.ts";
import {
  type AgentMessage,
  type Assignment,
  type CoordinatorMessage,
  encodeLogChunk,
  PROTOCOL_VERSION,
} from "../../shared/protocol/index.ts";

const LINE = new TextEncoder().encode("ok\n");

function simAgent(url: string, token: string, name: string, capacity: number, onReady: () => void): WebSocket {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/agent/v1/connect`, {
    headers: { authorization: `Bearer ${token}` },
  } as unknown as string[]);
  const send = (m: AgentMessage) => ws.send(JSON.stringify(m));
  const run = (a: Assignment) => {
    const base = () => ({ id: newId(), attempt: a.attempt });
    send({ type: "accept", ...base() });
    a.steps.forEach((_, step) => {
      send({ type: "step_start", ...base(), step, at: Date.now() });
      ws.send(encodeLogChunk({ attempt: a.attempt, step, offset: 0, data: LINE }) as Uint8Array<ArrayBuffer>);
      send({ type: "step_end", ...base(), step, at: Date.now(), exitCode: 0, error: null, logSize: LINE.length });
    });
    send({ type: "result", ...base(), at: Date.now(), status: "success", exitCode: 0, error: null, cpuSeconds: 0, peakRssBytes: 0 });
  };
  ws.onopen = () =>
    send({
      type: "hello",
      protocol: PROTOCOL_VERSION,
      version: "sim",
      name,
      archs: ["amd64"],
      group: "default",
      labels: {},
      capacity,
      resources: { cpu: 64, memoryBytes: 2 ** 40 },
      dynamic: true,
      executor: "host",
      limits: { memory: null, pids: null },
      host: "sim",
      workDir: `/nonexistent/${name}`,
      running: [],
    });
  ws.onmessage = (e) => {
    const m = JSON.parse(String(e.data)) as CoordinatorMessage;
    if (m.type === "welcome") {
      setInterval(() => send({ type: "heartbeat", seq: 0 }), m.heartbeatMs);
      onReady();
    } else if (m.type === "assign") run(m.assignment);
    else if (m.type === "refuse") console.error(`${name} refused: ${m.message}`);
  };
  return ws;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      coordinator: { type: "string" },
      token: { type: "string" },
      count: { type: "string", default: "50" },
      capacity: { type: "string", default: "4" },
      prefix: { type: "string", default: "sim" },
    },
  });
  const count = Number(values.count);
  let ready = 0;
  for (let i = 0; i < count; i++) {
    simAgent(values.coordinator!, values.token!, `${values.prefix}-${i}`, Number(values.capacity), () => {
      if (++ready === count) console.log(`ready ${count}`);
    });
    // spread the connects a little so a thousand agents do not arrive in one tick
    if (i % 100 === 99) await Bun.sleep(20);
  }
}
