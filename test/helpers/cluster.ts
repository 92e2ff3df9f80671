import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { FINAL_RUN_PHASES } from "../../shared/states.ts";
import { captureOutput, killGroup, spawnTracked, stopAll, waitFor } from "./processes.ts";
import { readReply } from "./reply.ts";
import { startS3rver } from "./s3rver.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const ADMIN_TOKEN = "test-admin-token";
export const AGENT_TOKEN = "test-agent-token";

export interface Coordinator {
  url: string;
  proc: Subprocess;
  output: () => string;
}

export interface Cluster {
  dir: string;
  /** the coordinator's DROVER_STORAGE: its posix dir, or an s3rver bucket (DROVER_TEST_STORAGE=s3) */
  storage: string;
  coordinator: Coordinator;
  /** `DROVER_DATA` in `env` gives the coordinator its own data dir (a second node on one database) */
  startCoordinator(env?: Record<string, string>, port?: number): Promise<Coordinator>;
  startAgent(name: string, flags?: string[], url?: string): Promise<{ proc: Subprocess; output: () => string }>;
  api<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  submit(pipeline: string, group?: string): Promise<string>;
  waitRun(id: string, timeoutMs?: number): Promise<RunView>;
  log(run: string, task: string, step: number): Promise<string>;
  stop(): Promise<void>;
}

/** A 5 s agent lease (heartbeats every second): an agent killed with kill -9 lapses, and its watchdog acts, within seconds. */
export const SHORT_LEASE = { DROVER_LEASE_TTL_MS: "5000", DROVER_HEARTBEAT_MS: "1000" };

/** The phases a run ends in; a run in any other phase is still going. */
export const END_PHASES: readonly string[] = [...FINAL_RUN_PHASES];

/** A run as `GET /api/v1/runs` lists it: one row per run, cheap to poll. */
export interface RunSummary {
  id: string;
  phase: string;
  result: string;
  endedAt: number | null;
}

export interface RunView {
  id: string;
  phase: string;
  result: string;
  tasks: {
    name: string;
    status: string;
    attempts: { number: number; state: string; agentId: string; exitCode: number | null; error: string | null; steps: { status: string; exitCode: number | null }[] }[];
  }[];
}

/**
 * A coordinator (and agents) as real subprocesses, on a random port and a temp dir.
 * If the coordinator fails to start, what was started is stopped and the dir removed before the error is rethrown.
 */
export async function startCluster(env: Record<string, string> = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), "drover-test-"));
  // DROVER_TEST_STORAGE=s3 runs a suite against a bucket of its own on s3rver
  const s3 = process.env.DROVER_TEST_STORAGE === "s3" && !env.DROVER_STORAGE ? await startS3rver(`drover-${basename(dir).toLowerCase().replace(/[^a-z0-9]/g, "")}`) : null;
  if (s3) env = { ...env, DROVER_STORAGE: s3.spec, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };
  const mine: Subprocess[] = [];
  const spawn = (cmd: string[], opts: Parameters<typeof spawnTracked>[1]) => {
    const proc = spawnTracked(cmd, opts);
    mine.push(proc);
    return proc;
  };
  const cluster: Cluster = {
    dir,
    storage: env.DROVER_STORAGE ?? join(dir, "data", "objects"),
    coordinator: undefined as unknown as Coordinator,
    async startCoordinator(extra = {}, port = 0) {
      const proc = spawn(["bun", "cli/main.ts", "serve", "--port", String(port), "--data", extra.DROVER_DATA ?? join(dir, "data"), "--no-fsync"], {
        cwd: ROOT,
        env: { DROVER_ADMIN_TOKEN: ADMIN_TOKEN, DROVER_AGENT_TOKEN: AGENT_TOKEN, ...env, ...extra },
      });
      const out = captureOutput(proc.stdout);
      const err = captureOutput(proc.stderr);
      const output = () => out.text() + err.text();
      // An exit before listening ends the wait at once; either failure says what the coordinator printed.
      const url = await waitFor(
        "the coordinator to listen",
        () => out.text().match(/listening on (http:\/\/\S+)/)?.[1] ?? (proc.exitCode !== null || proc.signalCode !== null ? null : undefined),
        20_000,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; the coordinator printed:\n${output()}`);
      });
      if (url === null) throw new Error(`the coordinator exited (${proc.exitCode ?? proc.signalCode}) before listening:\n${output()}`);
      cluster.coordinator = { url, proc, output };
      return cluster.coordinator;
    },
    async startAgent(name, flags = [], url = cluster.coordinator.url) {
      const workDir = flags.includes("--work-dir") ? [] : ["--work-dir", join(dir, `agent-${name}`)];
      const token = flags.includes("--token-file") ? [] : ["--token", AGENT_TOKEN];
      // DROVER_TEST_EXECUTOR=sandbox runs a suite's steps in the sandbox executor
      const executor = process.env.DROVER_TEST_EXECUTOR && !flags.includes("--executor") ? ["--executor", process.env.DROVER_TEST_EXECUTOR] : [];
      const proc = spawn(["bun", "agent/main.ts", "--coordinator", url, ...token, "--name", name, ...workDir, ...executor, ...flags], {
        cwd: ROOT,
      });
      const err = captureOutput(proc.stderr);
      await waitFor(`agent ${name} to register`, () => err.text().includes("registered as"), 20_000);
      return { proc, output: () => err.text() };
    },
    async api(method, path, body, token = ADMIN_TOKEN) {
      const res = await fetch(`${cluster.coordinator.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return readReply(res);
    },
    async submit(pipeline, group = "test") {
      const res = await cluster.api<{ id: string }>("POST", "/api/v1/runs", { pipeline, group });
      if (res.status !== 201) throw new Error(`submit failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id;
    },
    async waitRun(id, timeoutMs = 30_000) {
      return waitFor(
        `run ${id} to end`,
        async () => {
          const { body } = await cluster.api<RunView>("GET", `/api/v1/runs/${id}`);
          return END_PHASES.includes(body.phase) ? body : undefined;
        },
        timeoutMs,
      );
    },
    async log(run, task, step) {
      const res = await fetch(`${cluster.coordinator.url}/api/v1/runs/${run}/tasks/${task}/steps/${step}/log`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      return res.text();
    },
    async stop() {
      await stopAll(mine);
      await s3?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.startCoordinator();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** A kill -9 of the coordinator, then a start on the same port and data dir: what a crash and a restart do. */
export async function killAndRestartCoordinator(c: Cluster, env: Record<string, string>): Promise<void> {
  const port = Number(new URL(c.coordinator.url).port);
  killGroup(c.coordinator.proc, "SIGKILL");
  await c.coordinator.proc.exited;
  await waitFor("the port to be free", async () => !(await fetch(`${c.coordinator.url}/healthz`).then(() => true, () => false)), 10_000);
  await c.startCoordinator(env, port);
}
