import { and, desc, eq, getTableColumns, gte, lte, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { runs } from "../db/schema.ts";

export interface RunFilters {
  group?: string;
  phase?: string;
  result?: string;
  user?: string;
  /** a project's name */
  project?: string;
  /** the source's branch (for pull requests, their source branch) and event */
  branch?: string;
  event?: string;
  /** createdAt bounds, epoch ms */
  since?: number;
  until?: number;
  limit: number;
}

// lists never show the pipeline text, the largest column
const { pipeline: _pipeline, ...listed } = getTableColumns(runs);

/** Runs matching every filter given, newest first. */
export async function listRuns(db: Db, f: RunFilters) {
  return listQuery(db, f);
}

/** The query of `listRuns`, to be run or explained. */
export function listQuery(db: Db, f: RunFilters) {
  const where: SQL[] = [];
  if (f.group) where.push(eq(runs.group, f.group));
  if (f.phase) where.push(eq(runs.phase, f.phase));
  if (f.result) where.push(eq(runs.result, f.result));
  if (f.user) where.push(eq(runs.user, f.user));
  if (f.project) where.push(eq(runs.project, f.project));
  if (f.branch) where.push(sql`coalesce(json_extract(${runs.source}, '$.branch'), json_extract(${runs.source}, '$.pr.sourceBranch')) = ${f.branch}`);
  if (f.event) where.push(sql`json_extract(${runs.source}, '$.event') = ${f.event}`);
  if (f.since) where.push(gte(runs.createdAt, f.since));
  if (f.until) where.push(lte(runs.createdAt, f.until));
  return db
    .select(listed)
    .from(runs)
    .where(and(...where))
    .orderBy(desc(runs.id))
    .limit(f.limit);
}
