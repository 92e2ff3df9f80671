import { sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/open.ts";
import { runFences, runGroups, runs } from "../db/schema.ts";
import type { RunRow } from "./active-run.ts";

/**
 * A statement for the batch that starts a queued run: it fails the batch when the run's group already has as
 * many running runs as its limit allows, counted in the database. The engine admits runs from this node's
 * memory of the others; with several nodes two could each admit one at once, and this keeps the limit.
 */
export function groupGuard(db: Db, run: Pick<RunRow, "id" | "group">): BatchItem<"sqlite"> {
  return db.run(
    // the group's row first: a group without a limit (most) never counts its runs, which grows with the group
    sql`INSERT INTO ${runFences} (ok, admitted) SELECT 1, NULL FROM ${runGroups} WHERE ${runGroups.name} = ${run.group}
      AND ${runGroups.concurrency} <= (SELECT count(*) FROM ${runs} WHERE ${runs.group} = ${run.group} AND ${runs.phase} = 'running' AND ${runs.id} != ${run.id})`,
  );
}

/** Whether a write failed because its group guard refused it: the group is full, the run stays queued. */
export const overGroupLimit = (e: unknown) => /run_fences\.admitted/.test(String((e as Error)?.message ?? e));
