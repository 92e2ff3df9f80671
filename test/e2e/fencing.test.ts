import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";

// Fencing (PROTOCOL.md): an attempt's steps run only while its agent's lease is alive, so two attempts of one
// task never run at once, whether the agent is stopped, killed, or killed together with its watchdog.

const LEASE = { DROVER_LEASE_TTL_MS: "3000", DROVER_HEARTBEAT_MS: "500" };

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function newCluster(env: Record<string, string>): Promise<Cluster> {
  cluster = await startCluster(env);
  return cluster;
}

/**
 * A task whose step appends "attempt ms agent" to `file` every 100 ms for `seconds`, or for `later` seconds
 * from its second attempt on: a first attempt left unfenced goes on writing long after its replacement
 * started (so an overlap shows), while the replacement ends soon (so the test does not wait for it).
 */
const marking = (file: string, seconds: number, later = seconds) => `tasks:
  fenced:
    steps:
      - run: for i in $(seq 1 $([ "$DROVER_ATTEMPT" = 1 ] && echo ${seconds * 10} || echo ${later * 10})); do echo "$DROVER_ATTEMPT $(date +%s%3N) $DROVER_AGENT" >> ${file}; sleep 0.1; done
`;

interface Marks {
  /** per attempt number: first and last mark (ms), and the agent that wrote them */
  spans: Map<string, { first: number; last: number; agent: string }>;
}

function readMarks(file: string): Marks {
  const spans: Marks["spans"] = new Map();
  for (const line of readFileSync(file, "utf8").split("\n").filter(Boolean)) {
    const [attempt, at, agent] = line.split(" ") as [string, string, string];
    const span = spans.get(attempt) ?? { first: Number(at), last: Number(at), agent };
    span.first = Math.min(span.first, Number(at));
    span.last = Math.max(span.last, Number(at));
    spans.set(attempt, span);
  }
  return { spans };
}

/** Every pair of attempts: the earlier one's last mark comes before the later one's first. */
function expectNoOverlap(marks: Marks): void {
  const spans = [...marks.spans.entries()].sort((a, b) => a[1].first - b[1].first);
  expect(spans.length).toBeGreaterThanOrEqual(2);
  for (let i = 1; i < spans.length; i++) {
    const [before, b] = spans[i - 1]!;
    const [after, a] = spans[i]!;
    if (b.last >= a.first) throw new Error(`attempt ${before} wrote ${b.last - a.first} ms after attempt ${after} had started`);
  }
}

async function startRunning(c: Cluster, file: string, seconds: number, later = seconds) {
  const id = await c.submit(marking(file, seconds, later));
  await waitFor("the first mark", () => existsSync(file) && readFileSync(file, "utf8").length > 0, 20_000).catch(async (e: Error) => {
    throw new Error(`${e.message}; the run: ${JSON.stringify((await c.api("GET", `/api/v1/runs/${id}`)).body)}`);
  });
  const agent = readFileSync(file, "utf8").split("\n")[0]!.split(" ")[2]!;
  return { id, agent };
}

describe("fencing", () => {
  test("an agent stopped (SIGSTOP) past its lease ends its step before the task runs elsewhere, and never writes again", async () => {
    const c = await newCluster(LEASE);
    const agents = { a1: await c.startAgent("a1"), a2: await c.startAgent("a2") };
    const file = join(c.dir, "marks");
    const { id, agent } = await startRunning(c, file, 60, 3);
    const stopped = agents[agent as keyof typeof agents];
    // past its lease the attempt is lost, retried on the other agent, and runs a while there (1 s of its 3)
    // before the stopped agent wakes, its own step 60 s from done
    killGroup(stopped.proc, "SIGSTOP");
    await waitFor("attempt 2 to run a second", () => {
      const span = readMarks(file).spans.get("2");
      return !!span && span.last - span.first >= 1000;
    }, 30_000);
    killGroup(stopped.proc, "SIGCONT");
    const run = await c.waitRun(id, 40_000);
    expect(run.result).toBe("success");
    const marks = readMarks(file);
    expectNoOverlap(marks);
    expect(marks.spans.get("2")?.agent).not.toBe(agent);
    // the resumed agent gave the attempt up
    await waitFor("the resumed agent to say so", () => stopped.output().includes("the lease lapsed; ending it") || stopped.output().includes("abandoning"));
  }, 90_000);

  test("an agent killed with kill -9 leaves its step to its watchdog, which ends it before the task runs elsewhere", async () => {
    const c = await newCluster(LEASE);
    const agents = { a1: await c.startAgent("a1"), a2: await c.startAgent("a2") };
    const file = join(c.dir, "marks");
    // the orphan, left alone, would write for 60 s: well into attempt 2's 2 s
    const { id, agent } = await startRunning(c, file, 60, 2);
    killGroup(agents[agent as keyof typeof agents].proc, "SIGKILL");
    const run = await c.waitRun(id, 40_000);
    expect(run.result).toBe("success");
    expectNoOverlap(readMarks(file));
    // the watchdog removed the step's cgroups too (where this machine lets the agent make them)
    const first = (run.tasks[0]!.attempts[0] as unknown as { id: string }).id;
    for (const base of ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids"].map((h) => join(h, `drover-${agent}`))) {
      if (existsSync(base)) expect(readdirSync(base).filter((d) => d.startsWith(first))).toEqual([]);
    }
  }, 60_000);

  test("an assignment an agent took up only after it went back to the queue (the agent stalled) is stopped at once", async () => {
    const c = await newCluster({ DROVER_LEASE_TTL_MS: "30000", DROVER_HEARTBEAT_MS: "500", DROVER_ACCEPT_TIMEOUT_MS: "1000" });
    const a1 = await c.startAgent("a1");
    const file = join(c.dir, "marks");
    killGroup(a1.proc, "SIGSTOP");
    const id = await c.submit(marking(file, 3));
    // a1 is sent the attempt, does not accept it in time, and it goes back to the queue; drained (a1 still
    // holds its lease), a1 gets it no more, and a2 takes it
    await Bun.sleep(1500);
    const { body } = await c.api<{ agents: { id: string; name: string }[] }>("GET", "/api/v1/agents");
    await c.api("POST", `/api/v1/agents/${body.agents.find((a) => a.name === "a1")!.id}/drain`);
    await c.startAgent("a2");
    await waitFor("a2 to run it", () => existsSync(file) && readFileSync(file, "utf8").includes(" a2"), 20_000);
    killGroup(a1.proc, "SIGCONT");
    expect((await c.waitRun(id, 30_000)).result).toBe("success");
    // a1 started it on waking, and was told to stop as soon as it said so
    const byA1 = readFileSync(file, "utf8").split("\n").filter((l) => l.endsWith(" a1"));
    expect(byA1.length).toBeLessThan(5);
  }, 60_000);

  test("a restarted agent ends what its previous run left, even when its watchdog died with it", async () => {
    const c = await newCluster({ DROVER_LEASE_TTL_MS: "60000", DROVER_HEARTBEAT_MS: "500" });
    const a1 = await c.startAgent("a1");
    const file = join(c.dir, "marks");
    await startRunning(c, file, 60);
    const watchdog = Number(readFileSync(join(c.dir, "agent-a1", "agent-a1", "watchdog.pid"), "utf8"));
    killGroup(a1.proc, "SIGKILL");
    process.kill(watchdog, "SIGKILL");
    await Bun.sleep(500);
    const before = readMarks(file).spans.get("1")!.last;
    // with a 60 s lease nothing else would end the orphaned step yet: it marks on (a mark every 100 ms, which a loaded
    // machine once held back for over 500 ms: CI seed 392324014)
    await waitFor("the orphaned step to mark on", () => readMarks(file).spans.get("1")!.last > before, 5_000);
    const again = await c.startAgent("a1");
    expect(again.output()).toContain("killed what 1 step(s) of this agent's previous run left");
    const stoppedAt = readMarks(file).spans.get("1")!.last;
    await Bun.sleep(700);
    expect(readMarks(file).spans.get("1")!.last).toBe(stoppedAt);
    // told by the restarted agent that it no longer runs attempt 1, the coordinator retries it at once
    await waitFor("attempt 2", () => readMarks(file).spans.has("2"));
    expectNoOverlap(readMarks(file));
  }, 60_000);
});
