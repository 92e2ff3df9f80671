/**
 * The fast test layer: a coordinator started inside the test's own process (its API reached through
 * `app.request()`, its agent WebSocket on a random 127.0.0.1 port) on a temp dir, with fake agents
 * (fake-agent.ts) instead of agent processes. Starts in tens of milliseconds.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveConfig } from "../../coordinator/config.ts";
import { type RunningCoordinator, startCoordinator } from "../../coordinator/server.ts";
import { FakeAgent, type FakeAgentOptions } from "./fake-agent.ts";
import { waitFor } from "./processes.ts";
import { readReply } from "./reply.ts";

export const ADMIN_TOKEN = "test-admin-token";
export const AGENT_TOKEN = "test-agent-token";

export interface InProcess {
  dir: string;
  coordinator: RunningCoordinator;
  api<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  submit(pipeline: string, group?: string): Promise<string>;
  run<T = { phase: string; result: string; tasks: { name: string; status: string; attempts: { state: string }[] }[] }>(
    id: string,
  ): Promise<T>;
  waitPhase(id: string, phases: string[], timeoutMs?: number): Promise<string>;
  agent(name: string, options?: Partial<FakeAgentOptions>): Promise<FakeAgent>;
  /** run at stop, after the coordinator stopped and before the dir is removed (e.g. unmounting) */
  cleanups: (() => void)[];
  /** stops the coordinator and starts a new one on the same data dir (a restart) */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startInProcess(
  env: Record<string, string> = {},
  { beforeStart }: { beforeStart?: (dataDir: string) => void } = {},
): Promise<InProcess> {
  const dir = mkdtempSync(join(tmpdir(), "drover-inproc-"));
  mkdirSync(join(dir, "data"));
  beforeStart?.(join(dir, "data"));
  const agents: FakeAgent[] = [];
  const start = () =>
    startCoordinator(
      resolveConfig({
        port: 0,
        dataDir: join(dir, "data"),
        noFsync: true,
        env: { DROVER_ADMIN_TOKEN: ADMIN_TOKEN, DROVER_AGENT_TOKEN: AGENT_TOKEN, DROVER_GC_INTERVAL_MS: "3600000", ...env },
      }),
    );
  const h: InProcess = {
    dir,
    cleanups: [],
    coordinator: await start(),
    async api(method, path, body, token = ADMIN_TOKEN) {
      const res = await h.coordinator.app.request(path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      });
      return readReply(res);
    },
    async submit(pipeline, group = "test") {
      const res = await h.api<{ id: string }>("POST", "/api/v1/runs", { pipeline, group });
      if (res.status !== 201) throw new Error(`submit failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id;
    },
    async run(id) {
      return (await h.api("GET", `/api/v1/runs/${id}`)).body as never;
    },
    waitPhase(id, phases, timeoutMs = 15_000) {
      return waitFor(
        `run ${id} to be ${phases.join(" or ")}`,
        async () => {
          const { phase } = await h.run(id);
          return phases.includes(phase) ? phase : undefined;
        },
        timeoutMs,
      );
    },
    async agent(name, options = {}) {
      const agent = new FakeAgent({ url: h.coordinator.url, token: AGENT_TOKEN, name, ...options });
      await agent.connect();
      agents.push(agent);
      return agent;
    },
    async restart() {
      await h.coordinator.stop();
      h.coordinator = await start();
      for (const a of agents) a.options.url = h.coordinator.url;
    },
    async stop() {
      for (const a of agents) a.crash();
      await h.coordinator.stop();
      for (const cleanup of h.cleanups) cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
