import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client, InStatement } from "@libsql/client";
import { eq } from "drizzle-orm";
import { monotonicFactory } from "ulid";
import { type Db, openDb } from "../../coordinator/db/open.ts";
import { attempts } from "../../coordinator/db/schema.ts";
import { listAttempts } from "../../coordinator/history/attempts.ts";
import { attemptStats } from "../../coordinator/history/stats.ts";
import { type Benchmark, type Figure, percentile, round, target } from "./lib.ts";

const RUNS = 2000;
const TASKS = 10;
const ATTEMPTS = 50; // per task: 2000 × 10 × 50 = 1,000,000 attempt rows
const PIPELINES = 5; // each with its own 10 task names: 50 names
const DIGEST_EVERY = 20; // runs of a pipeline before its commands change
const AGENTS = 20;
const SPAN_MS = 90 * 86_400_000;
const ROWS_PER_INSERT = 500;
const SAMPLES = 200;
const HOUR = 3_600_000;

const COLUMNS = "id, run_id, task_id, task_name, number, agent_id, state, exit_code, digest, ready_at, started_at, keepalive_at, ended_at, cpu_seconds, peak_rss_bytes";
const insertSql = (table: string, columns: string, rows: number) => {
  const one = `(${columns.split(",").map(() => "?").join(",")})`;
  return `INSERT INTO ${table} (${columns}) VALUES ${Array(rows).fill(one).join(",")}`;
};

const name = (run: number, task: number) => `p${run % PIPELINES}-t${task}`;
const digest = (run: number, task: number) => `${name(run, task)}@${Math.floor(run / PIPELINES / DIGEST_EVERY)}`;

/** Rows in the order the coordinator writes them: runs in time order, attempt ids minted at readyAt. */
async function fill(client: Client, start: number): Promise<void> {
  const mint = monotonicFactory();
  const slot = SPAN_MS / RUNS;
  for (let r = 0; r < RUNS; r++) {
    const created = start + r * slot;
    const batch: InStatement[] = [
      { sql: insertSql("runs", "id, \"group\", user, pipeline, pipeline_file, variables, phase, result, created_at", 1), args: [`r${r}`, "bench", "bench", "", ".drover.yml", "{}", "finished", "success", created] },
      {
        sql: insertSql("tasks", "id, run_id, name, level, spec, status, annotations", TASKS),
        args: Array.from({ length: TASKS }, (_, t) => [`r${r}-t${t}`, `r${r}`, name(r, t), 0, "{}", "success", "{}"]).flat(),
      },
    ];
    let rows: (string | number | null)[][] = [];
    for (let n = 1; n <= ATTEMPTS; n++) {
      for (let t = 0; t < TASKS; t++) {
        const readyAt = Math.round(created + ((n - 1) * TASKS + t) * (slot / (ATTEMPTS * TASKS)));
        const roll = Math.random();
        const state = roll < 0.9 ? "success" : roll < 0.98 ? "failed" : "lost";
        const ms = Math.round(1000 + 60_000 * Math.random() ** 3);
        const [started, ended] = [readyAt + 50, readyAt + 50 + ms];
        const exit = state === "success" ? 0 : state === "failed" ? 1 : null;
        rows.push([mint(readyAt), `r${r}`, `r${r}-t${t}`, name(r, t), n, `agent${(r + t) % AGENTS}`, state, exit, digest(r, t), readyAt, started, ended, ended, ms / 2000, 1e8 + Math.round(1e9 * Math.random())]);
        if (rows.length === ROWS_PER_INSERT) {
          batch.push({ sql: insertSql("attempts", COLUMNS, rows.length), args: rows.flat() });
          rows = [];
        }
      }
    }
    if (rows.length) batch.push({ sql: insertSql("attempts", COLUMNS, rows.length), args: rows.flat() });
    await client.batch(batch, "write");
    if ((r + 1) % (RUNS / 10) === 0) console.error(`history: ${((r + 1) * TASKS * ATTEMPTS).toLocaleString("en")} attempts inserted`);
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const pick = <T>(values: T[]) => values[Math.floor(Math.random() * values.length)]!;
const int = (n: number) => Math.floor(Math.random() * n);

/** History queries over a million attempts; baseline: primary-key lookups on the same table. */
export async function benchHistory(): Promise<Record<string, Figure>> {
  const dir = mkdtempSync(join(tmpdir(), "drover-bench-history-"));
  try {
    const db: Db = await openDb({ url: `file:${join(dir, "drover.db")}` });
    try {
      return await measure(db);
    } finally {
      db.$client.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The queries, timed, on a filled database. */
async function measure(db: Db): Promise<Record<string, Figure>> {
  const now = Date.now();
  const start = now - SPAN_MS;
  const t0 = performance.now();
  await fill(db.$client, start);
  console.error(`history: filled in ${round((performance.now() - t0) / 1000, 1)} s`);
  const ids = (await db.$client.execute("SELECT id FROM attempts WHERE rowid % 997 = 0")).rows.map((r) => String(r.id));
  const kinds: Record<string, () => Promise<unknown>> = {
    name: () => listAttempts(db, { name: name(int(RUNS), int(TASKS)), since: now - 7 * 86_400_000, limit: 100 }),
    digest: () => listAttempts(db, { digest: digest(int(RUNS), int(TASKS)), limit: 100 }),
    run: () => listAttempts(db, { run: `r${int(RUNS)}`, limit: 100 }),
    "window (last hour)": () => listAttempts(db, { since: now - HOUR, limit: 100 }),
    "window (an hour in the past)": () => {
      const since = Math.floor(start + Math.random() * (SPAN_MS - HOUR));
      return listAttempts(db, { since, until: since + HOUR, limit: 100 });
    },
    stats: () => attemptStats(db, { name: name(int(RUNS), int(TASKS)), since: now - 30 * 86_400_000, limit: 100 }),
  };
  const names = Object.keys(kinds);
  for (const kind of names) await kinds[kind]!();
  const byKind = new Map<string, number[]>(names.map((k) => [k, []]));
  for (let i = 0; i < SAMPLES; i++) {
    const kind = names[i % names.length]!;
    byKind.get(kind)!.push(await timed(kinds[kind]!));
  }
  for (const [kind, times] of byKind) console.error(`history: ${kind} p50 ${round(percentile(times, 50))} ms, max ${round(Math.max(...times))} ms`);
  const byId = () => db.select().from(attempts).where(eq(attempts.id, pick(ids)));
  for (let i = 0; i < 10; i++) await byId();
  const lookups: number[] = [];
  for (let i = 0; i < SAMPLES; i++) lookups.push(await timed(byId));
  const value = round(percentile([...byKind.values()].flat(), 50), 3);
  const baseline = round(percentile(lookups, 50), 3);
  return { history_query_p50_ms: { value, unit: "ms", baseline, ratio: round(value / baseline) } };
}

export const history: Benchmark = {
  name: "history",
  async run() {
    const figure = (await benchHistory()).history_query_p50_ms!;
    return { history_query_p50_ms: { ...figure, target: target("≤ 10 ms", figure.value <= 10) } };
  },
};
