import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { and, eq, sql } from "drizzle-orm";
import { ulid } from "ulid";
import { newId } from "../../shared/ids.ts";
import { type Db, openDb } from "../../coordinator/db/open.ts";
import { attempts, ON_AGENT, runs, tasks } from "../../coordinator/db/schema.ts";
import { type AttemptFilter, attemptsQuery, listAttempts, ulidFloor } from "../../coordinator/history/attempts.ts";
import { attemptStats, sampleQuery, taskNamesQuery } from "../../coordinator/history/stats.ts";
import { scratchDirs } from "../helpers/scratch.ts";

let db: Db;
// afterAll hooks run in the order registered: the database is closed before its dir goes
afterAll(() => db?.$client.close());
const { root: dir } = scratchDirs("drover-history-");
beforeAll(async () => {
  db = await openDb({ url: `file:${join(dir, "drover.db")}` });
});

async function plan(query: { toSQL(): { sql: string; params: unknown[] } }): Promise<string[]> {
  const { sql: text, params } = query.toSQL();
  const result = await db.$client.execute({ sql: `EXPLAIN QUERY PLAN ${text}`, args: params as never });
  return result.rows.map((r) => String(r.detail));
}

/** The plan reads attempts through `index` and never walks the table itself. */
function expectIndex(details: string[], index: string) {
  const reads = details.filter((d) => /^(SEARCH|SCAN) attempts\b/.test(d));
  expect(reads.length, details.join(" | ")).toBeGreaterThan(0);
  for (const d of reads) expect(d).toMatch(new RegExp(`USING (COVERING )?INDEX ${index}\\b`));
}

describe("history query plans", () => {
  const now = Date.now();
  // [what, filter, index, whether sorting the rows it selects is fine: one run's, one agent's, or one window's]
  const cases: [string, Omit<AttemptFilter, "limit">, string, boolean][] = [
    ["by name and window", { name: "build", since: now - 86_400_000, until: now }, "attempts_name_ready", false],
    ["by name and state", { name: "build", state: "failed" }, "attempts_name_ready", false],
    ["by digest, also naming a task", { digest: "d", name: "build", since: now }, "attempts_digest_ready", false],
    ["by run, with every other filter", { run: "r", digest: "d", name: "build", agent: "a", state: "success", since: now }, "attempts_run", true],
    ["by agent", { agent: "a", state: "success" }, "attempts_agent_ready", true],
    ["by window alone", { since: now - 86_400_000, until: now }, "attempts_ready", true],
    ["by state alone", { state: "lost" }, "sqlite_autoindex_attempts_1", false],
    ["unfiltered", {}, "sqlite_autoindex_attempts_1", false],
  ];
  for (const [what, filter, index, sorts] of cases) {
    test(`${what} uses ${index}`, async () => {
      const details = await plan(attemptsQuery(db, { ...filter, limit: 100 }));
      expectIndex(details, index);
      if (!sorts) expect(details.join(" | ")).not.toContain("TEMP B-TREE");
    });
  }

  test("a window alone reads the primary key only back to the window's start", async () => {
    const details = await plan(attemptsQuery(db, { since: now - 1000, limit: 100 }));
    expect(details.join(" | ")).toContain("sqlite_autoindex_attempts_1 (id>?)");
  });

  test("stats read one name's latest successes through attempts_name_ready", async () => {
    const details = await plan(sampleQuery(db, "build", now - 86_400_000));
    expectIndex(details, "attempts_name_ready");
    expect(details.join(" | ")).not.toContain("TEMP B-TREE");
  });

  test("stats find task names by probing attempts_name_ready, one name at a time", async () => {
    const details = (await db.all<{ detail: string }>(sql`EXPLAIN QUERY PLAN ${taskNamesQuery(100)}`)).map((r) => r.detail);
    expectIndex(details, "attempts_name_ready");
    expect(details).toContain("SEARCH attempts USING COVERING INDEX attempts_name_ready (task_name>?)");
  });
});

describe("the attempts an agent holds", () => {
  test("are read through the partial index attempts_agent_active, only the attempts it holds", async () => {
    const held = db.selectDistinct({ runId: attempts.runId }).from(attempts).where(and(eq(attempts.agentId, "a"), ON_AGENT));
    expectIndex(await plan(held), "attempts_agent_active");
  });
});

describe("ulidFloor", () => {
  test("bounds every id minted at or after the time, and no id minted before it", () => {
    const t = Date.now();
    expect(ulidFloor(t) <= newId()).toBe(true);
    expect(ulidFloor(t) <= ulid(t)).toBe(true);
    expect(ulid(t - 1) < ulidFloor(t)).toBe(true);
  });
});

describe("history results", () => {
  const T = 1_700_000_000_000;
  const attempt = (run: string, task: string, name: string, n: number, readyAt: number, ms: number, state = "success") => ({
    id: ulid(readyAt),
    runId: run,
    taskId: task,
    taskName: name,
    number: n,
    state,
    digest: `digest-${name}`,
    readyAt,
    startedAt: readyAt + 10,
    endedAt: readyAt + 10 + ms,
    cpuSeconds: ms / 1000,
    peakRssBytes: ms * 1000,
  });

  beforeAll(async () => {
    const run = (id: string, createdAt: number) => ({ id, group: "g", user: "u", pipeline: "", pipelineFile: ".drover.yml", variables: {}, phase: "finished", result: "success", createdAt });
    const task = (id: string, runId: string, name: string) => ({ id, runId, name, level: 0, spec: {}, status: "success", annotations: {} });
    await db.insert(runs).values([run("r1", T), run("r2", T + 10_000)]);
    await db.insert(tasks).values([task("t1", "r1", "build"), task("t2", "r1", "test"), task("t3", "r2", "build")]);
    await db.insert(attempts).values([
      attempt("r1", "t1", "build", 1, T + 100, 1000, "failed"),
      attempt("r1", "t1", "build", 2, T + 200, 2000),
      attempt("r1", "t2", "test", 1, T + 300, 4000),
      attempt("r2", "t3", "build", 1, T + 10_100, 3000),
      // what a restart from failed stores: r1's successful build, copied into r2, marked as kept
      { ...attempt("r1", "t1", "build", 1, T + 200, 2000), id: ulid(T + 10_050), runId: "r2", taskId: "t3", keptFrom: "the-original" },
    ]);
  });

  test("newest first by name, with each attempt's run time; a restart's kept copy is listed once, under its run", async () => {
    const rows = await listAttempts(db, { name: "build", since: T, limit: 10 });
    expect(rows.map((r) => [r.runId, r.number, r.state, r.durationMs])).toEqual([
      ["r2", 1, "success", 3000],
      ["r1", 2, "success", 2000],
      ["r1", 1, "failed", 1000],
    ]);
    const r2 = await listAttempts(db, { run: "r2", limit: 10 });
    expect(r2.map((r) => r.keptFrom)).toContain("the-original");
  });

  test("a window alone keeps to readyAt", async () => {
    const rows = await listAttempts(db, { since: T + 150, until: T + 300, limit: 10 });
    expect(rows.map((r) => [r.runId, r.taskName, r.readyAt - T])).toEqual([
      ["r1", "test", 300],
      ["r1", "build", 200],
    ]);
  });

  test("stats count each successful attempt once, leaving out restart copies and failures", async () => {
    const stats = await attemptStats(db, { limit: 10 });
    expect(stats).toEqual([
      { name: "build", count: 2, p50DurationMs: 2000, p95DurationMs: 3000, p50PeakRssBytes: 2_000_000, p95PeakRssBytes: 3_000_000, meanCpuSeconds: 2.5 },
      { name: "test", count: 1, p50DurationMs: 4000, p95DurationMs: 4000, p50PeakRssBytes: 4_000_000, p95PeakRssBytes: 4_000_000, meanCpuSeconds: 4 },
    ]);
    expect(await attemptStats(db, { name: "build", since: T + 1000, limit: 10 })).toMatchObject([{ name: "build", count: 1 }]);
  });
});
