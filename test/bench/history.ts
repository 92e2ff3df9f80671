import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@libsql/client";
import { eq } from "drizzle-orm";
import { type Db, openDb } from "../../coordinator/db/open.ts";
import { attempts } from "../../coordinator/db/schema.ts";
import { listAttempts } from "../../coordinator/history/attempts.ts";
import { attemptStats } from "../../coordinator/history/stats.ts";
import { type Benchmark, type Figure, percentile, round, target } from "./lib.ts";

const TASKS = 10;
const ATTEMPTS = 50; // per task: 2000 runs × 10 × 50 = 1,000,000 attempt rows
const PIPELINES = 5; // each with its own 10 task names: 50 names
const DIGEST_EVERY = 20; // runs of a pipeline before its commands change
const AGENTS = 20;
const SPAN_MS = 90 * 86_400_000;
const SAMPLES = 200;
const HOUR = 3_600_000;
/** runs per INSERT … SELECT: 100,000 attempt rows a statement, so progress shows and no statement holds the file long */
const CHUNK = 200;

/** Runs for `attempts` attempt rows. */
export const runsFor = (attempts: number) => Math.round(attempts / (TASKS * ATTEMPTS));

const name = (run: number, task: number) => `p${run % PIPELINES}-t${task}`;
const digest = (run: number, task: number) => `${name(run, task)}@${Math.floor(run / PIPELINES / DIGEST_EVERY)}`;

// Crockford's base32, as a ULID spells its time and randomness
const B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** `width` base32 digits of the integer SQL expression `expr`, most significant first: a ULID's part, in SQL. */
const base32 = (expr: string, width: number) =>
  Array.from({ length: width }, (_, i) => `substr('${B32}', (((${expr}) >> ${5 * (width - 1 - i)}) & 31) + 1, 1)`).join(" || ");

/**
 * The rows of `runs` runs, written by SQLite itself (INSERT … SELECT over a recursive counter; no row crosses into
 * JavaScript), in the order the coordinator writes them: runs in time order, each attempt's id a ULID minted at its
 * readyAt (the time part encoded, a counter as the rest, so ids sort as they were made; 6 base32 digits count a billion), 90% of attempts succeeded,
 * 8% failed, 2% lost, durations 1–61 s skewed short. The attempts indexes are dropped for the fill and made again after
 * it: SQLite builds an index from sorted keys much faster than it grows eight at random.
 */
async function fill(client: Client, start: number, runs: number): Promise<void> {
  const slot = SPAN_MS / runs;
  const step = slot / (ATTEMPTS * TASKS);
  const indexes = (await client.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'attempts' AND sql IS NOT NULL")).rows.map((r) => String(r.sql));
  const counter = (n: number) => `WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ${n - 1})`;
  // the rows refer to runs and tasks made just before them; checking each reference would double the fill's time
  await client.execute("PRAGMA foreign_keys = OFF");
  // index builds sort in the page cache: 256 MiB for the fill, the connection's own size again for the queries
  const cache = (await client.execute("PRAGMA cache_size")).rows[0]![0];
  await client.execute("PRAGMA cache_size = -262144");
  await client.executeMultiple(indexes.map((sql) => `DROP INDEX ${sql.match(/INDEX\s+(?:IF NOT EXISTS\s+)?[`"]?(\w+)/i)![1]};`).join("\n"));
  for (let first = 0; first < runs; first += CHUNK) {
    const count = Math.min(CHUNK, runs - first);
    const r = `(${first} + c.i / ${TASKS * ATTEMPTS})`; // attempts go run by run, then attempt number, then task
    const n = `(c.i % ${TASKS * ATTEMPTS} / ${TASKS} + 1)`;
    const t = `(c.i % ${TASKS})`;
    const readyAt = `CAST(${start} + ${r} * ${slot} + (c.i % ${TASKS * ATTEMPTS}) * ${step} AS INTEGER)`;
    const taskName = `'p' || (${r} % ${PIPELINES}) || '-t' || ${t}`;
    await client.batch(
      [
        `${counter(count)} INSERT INTO runs (id, "group", user, pipeline, pipeline_file, variables, phase, result, created_at)
           SELECT 'r' || (${first} + i), 'bench', 'bench', '', '.drover.yml', '{}', 'finished', 'success', CAST(${start} + (${first} + i) * ${slot} AS INTEGER) FROM c`,
        `${counter(count * TASKS)} INSERT INTO tasks (id, run_id, name, level, spec, status, annotations)
           SELECT 'r' || (${first} + i / ${TASKS}) || '-t' || (i % ${TASKS}), 'r' || (${first} + i / ${TASKS}), 'p' || ((${first} + i / ${TASKS}) % ${PIPELINES}) || '-t' || (i % ${TASKS}), 0, '{}', 'success', '{}' FROM c`,
        `${counter(count * TASKS * ATTEMPTS)}, a AS (
           SELECT c.i, ${r} AS r, ${n} AS n, ${t} AS t, ${readyAt} AS ready, abs(random()) % 100 AS roll,
             CAST(1000 + 60000 * ((abs(random()) % 1000000) / 1e6) * ((abs(random()) % 1000000) / 1e6) * ((abs(random()) % 1000000) / 1e6) AS INTEGER) AS ms,
             ${taskName} AS name FROM c)
         INSERT INTO attempts (id, run_id, task_id, task_name, number, agent_id, state, exit_code, digest, ready_at, started_at, keepalive_at, ended_at, cpu_seconds, peak_rss_bytes)
           SELECT ${base32("ready", 10)} || '0000000000' || ${base32(`${first * TASKS * ATTEMPTS} + i`, 6)},
             'r' || r, 'r' || r || '-t' || t, name, n, 'agent' || ((r + t) % ${AGENTS}),
             CASE WHEN roll < 90 THEN 'success' WHEN roll < 98 THEN 'failed' ELSE 'lost' END,
             CASE WHEN roll < 90 THEN 0 WHEN roll < 98 THEN 1 END,
             name || '@' || (r / ${PIPELINES} / ${DIGEST_EVERY}), ready, ready + 50, ready + 50 + ms, ready + 50 + ms, ms / 2000.0,
             100000000 + abs(random()) % 1000000000
           FROM a`,
      ],
      "write",
    );
    const done = first + count;
    if (done % Math.max(CHUNK, Math.floor(runs / 10 / CHUNK) * CHUNK) === 0 || done === runs)
      console.error(`history: ${(done * TASKS * ATTEMPTS).toLocaleString("en")} attempts inserted`);
  }
  const t0 = performance.now();
  await client.executeMultiple(indexes.map((sql) => `${sql};`).join("\n"));
  await client.execute("PRAGMA foreign_keys = ON");
  await client.execute(`PRAGMA cache_size = ${Number(cache)}`);
  console.error(`history: indexes made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const pick = <T>(values: T[]) => values[Math.floor(Math.random() * values.length)]!;
const int = (n: number) => Math.floor(Math.random() * n);

/** History queries over `runs` × 500 attempts (a million by default); baseline: primary-key lookups on the same table. */
export async function benchHistory(runs = 2000): Promise<Record<string, Figure>> {
  const dir = mkdtempSync(join(tmpdir(), "drover-bench-history-"));
  try {
    const db: Db = await openDb({ url: `file:${join(dir, "drover.db")}` });
    try {
      return await measure(db, runs);
    } finally {
      db.$client.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The queries, timed, on a filled database. */
async function measure(db: Db, runs: number): Promise<Record<string, Figure>> {
  const now = Date.now();
  const start = now - SPAN_MS;
  const t0 = performance.now();
  await fill(db.$client, start, runs);
  console.error(`history: filled in ${round((performance.now() - t0) / 1000, 1)} s`);
  const ids = (await db.$client.execute("SELECT id FROM attempts WHERE rowid % 997 = 0")).rows.map((r) => String(r.id));
  const kinds: Record<string, () => Promise<unknown>> = {
    name: () => listAttempts(db, { name: name(int(runs), int(TASKS)), since: now - 7 * 86_400_000, limit: 100 }),
    digest: () => listAttempts(db, { digest: digest(int(runs), int(TASKS)), limit: 100 }),
    run: () => listAttempts(db, { run: `r${int(runs)}`, limit: 100 }),
    "window (last hour)": () => listAttempts(db, { since: now - HOUR, limit: 100 }),
    "window (an hour in the past)": () => {
      const since = Math.floor(start + Math.random() * (SPAN_MS - HOUR));
      return listAttempts(db, { since, until: since + HOUR, limit: 100 });
    },
    stats: () => attemptStats(db, { name: name(int(runs), int(TASKS)), since: now - 30 * 86_400_000, limit: 100 }),
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
