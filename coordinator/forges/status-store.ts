import { and, eq, gt, isNotNull, isNull, or } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { runs } from "../db/schema.ts";
import type { RunRow } from "../runs/active-run.ts";

/** How long after a run ends a restarted coordinator still posts a final status the forge never took. */
export const REPOST_WITHIN_MS = 24 * 3600_000;

/** Records the state the forge took for the run's commit. */
export async function markPosted(db: Db, runId: string, state: string): Promise<void> {
  await db.update(runs).set({ statusPosted: state }).where(eq(runs.id, runId));
}

/**
 * Project runs still going, or ended within REPOST_WITHIN_MS: after a restart, those whose state the forge
 * has not taken (its post was queued or being retried when the coordinator stopped) are posted again.
 */
export async function recentProjectRuns(db: Db, now = Date.now()): Promise<RunRow[]> {
  const rows = await db
    .select()
    .from(runs)
    .where(and(isNotNull(runs.projectId), or(isNull(runs.endedAt), gt(runs.endedAt, now - REPOST_WITHIN_MS))));
  return rows as RunRow[];
}
