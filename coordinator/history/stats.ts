import { and, desc, eq, gte, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { attempts } from "../db/schema.ts";

/** Like Reflow's predictor, figures come from a task's latest successful attempts, which keeps each name's cost bounded. */
export const STATS_SAMPLE = 1000;

export interface TaskStats {
  name: string;
  /** successful attempts the figures are drawn from, at most STATS_SAMPLE */
  count: number;
  p50DurationMs: number | null;
  p95DurationMs: number | null;
  p50PeakRssBytes: number | null;
  p95PeakRssBytes: number | null;
  meanCpuSeconds: number | null;
}

export interface StatsFilter {
  name?: string;
  since?: number;
  /** how many task names, in name order, when no name is given */
  limit: number;
}

/** Distinct task names by one index probe per name (a loose index scan) rather than a walk over every attempt. */
export const taskNamesQuery = (limit: number) => sql`WITH RECURSIVE names(name) AS (
  SELECT min(${attempts.taskName}) FROM ${attempts}
  UNION ALL
  SELECT (SELECT min(${attempts.taskName}) FROM ${attempts} WHERE ${attempts.taskName} > names.name) FROM names
  WHERE names.name IS NOT NULL LIMIT ${limit}
) SELECT name FROM names WHERE name IS NOT NULL`;

export function sampleQuery(db: Db, name: string, since?: number) {
  return db
    .select({ startedAt: attempts.startedAt, endedAt: attempts.endedAt, peakRssBytes: attempts.peakRssBytes, cpuSeconds: attempts.cpuSeconds })
    .from(attempts)
    .where(
      and(
        eq(attempts.taskName, name),
        since ? gte(attempts.readyAt, since) : undefined,
        // `+` keeps the planner off the state index: nearly every attempt is a success.
        sql`+${attempts.state} = 'success'`,
        // A restart from failed copies kept attempts into the new run; they ran once and count once.
        isNull(attempts.keptFrom),
      ),
    )
    .orderBy(desc(attempts.readyAt))
    .limit(STATS_SAMPLE);
}

/** Nearest rank, so a percentile is always an observed value. */
function percentile(sorted: number[], p: number): number | null {
  return sorted.length ? sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]! : null;
}

const sortedValues = (values: (number | null)[]) => values.filter((v): v is number => v !== null).sort((a, b) => a - b);

function summarize(name: string, rows: Awaited<ReturnType<typeof sampleQuery>>): TaskStats {
  const durations = sortedValues(rows.map((r) => (r.startedAt !== null && r.endedAt !== null ? r.endedAt - r.startedAt : null)));
  const rss = sortedValues(rows.map((r) => r.peakRssBytes));
  const cpu = sortedValues(rows.map((r) => r.cpuSeconds));
  return {
    name,
    count: rows.length,
    p50DurationMs: percentile(durations, 50),
    p95DurationMs: percentile(durations, 95),
    p50PeakRssBytes: percentile(rss, 50),
    p95PeakRssBytes: percentile(rss, 95),
    meanCpuSeconds: cpu.length ? cpu.reduce((a, b) => a + b, 0) / cpu.length : null,
  };
}

/** Per task name, over its successful attempts in the window; names without one are left out. */
export async function attemptStats(db: Db, { name, since, limit }: StatsFilter): Promise<TaskStats[]> {
  const names = name ? [name] : (await db.all<{ name: string }>(taskNamesQuery(limit))).map((r) => r.name);
  const stats: TaskStats[] = [];
  for (const n of names) {
    const rows = await sampleQuery(db, n, since);
    if (rows.length) stats.push(summarize(n, rows));
  }
  return stats;
}
