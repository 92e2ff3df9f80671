import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { EnvSettings } from "../../coordinator/config.ts";
import { FENCE_MARGIN_MS } from "../../coordinator/dispatch/fleet-services.ts";
import { AGENT_TOKEN, type Cluster, ROOT, startCluster } from "../helpers/cluster.ts";
import { killGroup, spawnTracked, waitFor } from "../helpers/processes.ts";
import { type Benchmark, cpuSeconds, percentile, QUIET_ENV, round, rssNow, sampleRss, startSimAgents, target } from "./lib.ts";

const IDLE_AGENTS = 1000;
const IDLE_WINDOW_MS = 30_000;
const REGISTER_SAMPLES = 5;

interface LostView {
  tasks: { attempts: { state: string; agentId: string; startedAt: number | null }[] }[];
}

/** Kills whatever still runs with `DROVER_RUN_ID=run` in its environment: a killed agent's step outlives it (own process group). */
function killRunProcesses(run: string): void {
  const needle = `DROVER_RUN_ID=${run}\0`;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").includes(needle)) process.kill(Number(entry), "SIGKILL");
    } catch {
      // gone, or not ours to read
    }
  }
}

/**
 * Default lease (heartbeat 5 s, TTL 15 s). The task sleeps on the agent named victim only; once it runs there, a
 * second agent joins and the victim's process group is SIGKILLed (its socket closes: `lost_on_close_s`) or SIGSTOPped
 * (its socket stays open and silent: `lost_reassign_s`). Measured: that signal → `startedAt` of attempt 2 (on the
 * rescuer), as the coordinator stored it. Either way the step left behind must be dead first (the watchdog kills it
 * once the lease the victim last renewed is over), so the figure is what was left of that lease (10–15 s, by where in
 * its heartbeat period the victim was) plus the fencing margin.
 */
async function lostAttempt(signal: "SIGKILL" | "SIGSTOP"): Promise<number> {
  const cluster = await startCluster(QUIET_ENV);
  let run = "";
  let victim: Awaited<ReturnType<Cluster["startAgent"]>> | undefined;
  try {
    victim = await cluster.startAgent("victim");
    const pipeline = `tasks:\n  hold:\n    steps:\n      - run: 'if [ "$DROVER_AGENT" = victim ]; then sleep 600; fi'\n`;
    run = await cluster.submit(pipeline, "bench-lost");
    const view = async () => (await cluster.api<LostView>("GET", `/api/v1/runs/${run}`)).body.tasks[0]!;
    await waitFor("the task to run on the victim", async () => (await view()).attempts[0]?.state === "running", 20_000);
    await cluster.startAgent("rescuer");
    const signalledAt = Date.now();
    killGroup(victim.proc, signal);
    const startedAt = await waitFor("attempt 2 to start", async () => (await view()).attempts[1]?.startedAt ?? undefined, 60_000);
    const run2 = await cluster.waitRun(run, 30_000);
    if (run2.result !== "success") throw new Error(`the lost task's run ended ${run2.phase}/${run2.result}`);
    return (startedAt - signalledAt) / 1000;
  } finally {
    if (victim) killGroup(victim.proc);
    if (run) killRunProcesses(run);
    await cluster.stop();
  }
}

/** Average CPU of a process over `ms`, in % of one core. */
async function cpuPercent(pid: number, ms: number): Promise<number> {
  const [cpu0, t0] = [cpuSeconds(pid), performance.now()];
  await Bun.sleep(ms);
  return ((cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
}

/** The coordinator idle with no agents, then with a thousand simulated ones heart-beating every 5 s. */
async function idleAgents(): Promise<{ idleCpu: number; cpu: number; rss: number; rssBefore: number }> {
  const cluster = await startCluster(QUIET_ENV);
  try {
    const pid = cluster.coordinator.proc.pid;
    await Bun.sleep(2000); // start-up (migrations, JIT) is not idling
    const idleCpu = await cpuPercent(pid, IDLE_WINDOW_MS);
    const rssBefore = rssNow(pid);
    const sims = await startSimAgents([cluster.coordinator], IDLE_AGENTS, 1, "idle");
    try {
      await Bun.sleep(5000); // one heartbeat period, so the registration burst is over
      const rss = sampleRss(pid, 500);
      const cpu = await cpuPercent(pid, IDLE_WINDOW_MS);
      const { body } = await cluster.api<{ agents: { state: string; connected: boolean }[] }>("GET", "/api/v1/agents");
      const count = body.agents.filter((a) => a.state === "online" && a.connected).length;
      if (count !== IDLE_AGENTS) throw new Error(`${count} agents online after the idle window, expected ${IDLE_AGENTS}`);
      return { idleCpu, cpu, rss: rss.stop(), rssBefore };
    } finally {
      sims.stop();
    }
  } finally {
    await cluster.stop();
  }
}

/** Spawns a process and resolves with the ms until `marker` appears on its stderr (or until it exits, when no marker). */
async function timeTo(cmd: string[], marker?: string): Promise<{ ms: number; pid: number; stop: () => void }> {
  const t0 = performance.now();
  const proc = spawnTracked(cmd, { cwd: ROOT });
  const stop = () => killGroup(proc);
  try {
    if (!marker) {
      await proc.exited;
      return { ms: performance.now() - t0, pid: proc.pid, stop };
    }
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of proc.stderr) {
      text += decoder.decode(chunk, { stream: true });
      if (text.includes(marker)) {
        const ms = performance.now() - t0;
        // keep draining, so a chatty process never blocks on a full pipe
        void (async () => {
          for await (const _ of proc.stderr) {
          }
        })().catch(() => {});
        return { ms, pid: proc.pid, stop };
      }
    }
    throw new Error(`${cmd[0]} exited (${await proc.exited}) before printing "${marker}": ${text}`);
  } catch (e) {
    stop();
    throw e;
  }
}

/** Compiles the agent with scripts/build-agent, but into a temp dir: dist/ may be in use by other suites. */
async function buildAgent(dir: string): Promise<string | undefined> {
  const proc = spawnTracked(["./scripts/build-agent", "linux-x64"], { cwd: ROOT, env: { DROVER_AGENT_OUT: dir } });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if ((await proc.exited) !== 0) {
    console.error(`fleet: building the agent failed, skipping the compiled binary: ${err}`);
    return undefined;
  }
  return resolve(ROOT, out.trim());
}

interface AgentFigures {
  idleRss: number;
  registerMs: number;
}

/** One agent flavour: idle RSS 3 s after registering, and the median of REGISTER_SAMPLES spawn → "registered as". */
async function agentFigures(cluster: Cluster, command: string[], label: string): Promise<AgentFigures> {
  const args = (n: string) => [...command, "--coordinator", cluster.coordinator.url, "--token", AGENT_TOKEN, "--name", n, "--work-dir", join(cluster.dir, n)];
  const idle = await timeTo(args(`${label}-idle`), "registered as");
  let idleRss: number;
  try {
    await Bun.sleep(3000);
    idleRss = rssNow(idle.pid);
  } finally {
    idle.stop();
  }
  const times: number[] = [];
  for (let i = 0; i < REGISTER_SAMPLES; i++) {
    const started = await timeTo(args(`${label}-${i}`), "registered as");
    started.stop();
    times.push(started.ms);
  }
  console.error(`fleet: ${label} agent idle RSS ${round(idleRss, 1)} MiB, register ${times.map((t) => round(t)).join(", ")} ms`);
  return { idleRss, registerMs: percentile(times, 50) };
}

async function agents(): Promise<{ source: AgentFigures; binary?: AgentFigures; bunStart: number }> {
  const dir = mkdtempSync(join(tmpdir(), "drover-bench-agent-"));
  const cluster = await startCluster(QUIET_ENV);
  try {
    const binaryPath = await buildAgent(dir);
    const starts: number[] = [];
    for (let i = 0; i < REGISTER_SAMPLES; i++) starts.push((await timeTo(["bun", "-e", "process.exit(0)"])).ms);
    const source = await agentFigures(cluster, ["bun", "agent/main.ts"], "source");
    const binary = binaryPath ? await agentFigures(cluster, [binaryPath], "binary") : undefined;
    return { source, binary, bunStart: percentile(starts, 50) };
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const fleet: Benchmark = {
  name: "fleet",
  async run() {
    // the longest the victim's last lease can run, then the fencing margin before its attempt may run elsewhere
    const bound = (EnvSettings.parse({}).DROVER_LEASE_TTL_MS + FENCE_MARGIN_MS) / 1000;
    const onClose = await lostAttempt("SIGKILL");
    const silent = await lostAttempt("SIGSTOP");
    const idle = await idleAgents();
    const { source, binary, bunStart } = await agents();
    const register = binary?.registerMs ?? source.registerMs;
    console.error(`fleet: coordinator RSS ${round(idle.rssBefore, 1)} MiB before the agents connected`);
    return {
      lost_on_close_s: { value: round(onClose, 1), unit: "s", target: "(agent killed, socket closed → attempt running elsewhere)" },
      lost_reassign_s: { value: round(silent, 1), unit: "s", target: target(`≤ ${bound} s`, silent <= bound) },
      idle_agents_1000_cpu_pct: {
        value: round(idle.cpu),
        unit: "% of a core",
        baseline: round(idle.idleCpu),
        ratio: round(idle.cpu / idle.idleCpu),
        target: target("≤ 2%", idle.cpu <= 2),
      },
      idle_agents_1000_rss_mb: { value: round(idle.rss, 1), unit: "MiB", target: target("≤ 200 MiB", idle.rss <= 200) },
      agent_idle_rss_mb: { value: round(source.idleRss, 1), unit: "MiB", target: target("≤ 35 MiB", source.idleRss <= 35) },
      ...(binary && {
        agent_idle_rss_mb_binary: { value: round(binary.idleRss, 1), unit: "MiB", target: target("≤ 35 MiB", binary.idleRss <= 35) },
      }),
      agent_register_ms: {
        value: round(register, 1),
        unit: "ms",
        baseline: round(bunStart, 1),
        ratio: round(register / bunStart),
        target: target(`≤ 300 ms${binary ? "" : " (from source: no binary)"}`, register <= 300),
      },
      ...(binary && {
        agent_register_ms_source: { value: round(source.registerMs, 1), unit: "ms", baseline: round(bunStart, 1), ratio: round(source.registerMs / bunStart) },
      }),
    };
  },
};
