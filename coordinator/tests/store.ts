import { and, asc, eq } from "drizzle-orm";
import { chunkedInserts, writeAll } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { testCases } from "../db/schema.ts";
import type { ParsedCase } from "./report.ts";

export type TestCaseRow = typeof testCases.$inferSelect;

const ORDER: Record<TestCaseRow["status"], number> = { failed: 0, error: 1, skipped: 2, passed: 3 };

export interface ReportOrigin {
  runId: string;
  task: string;
  attemptId: string;
  attempt: number;
  step: number;
  file: string;
}

/** Stores one report's cases; a report sent again (a resent upload) replaces its earlier cases. */
export async function storeCases(db: Db, origin: ReportOrigin, cases: ParsedCase[]): Promise<void> {
  const same = and(eq(testCases.attemptId, origin.attemptId), eq(testCases.step, origin.step), eq(testCases.file, origin.file));
  await writeAll(db, [db.delete(testCases).where(same), ...chunkedInserts(db, testCases, cases.map((c) => ({ ...origin, ...c })))]);
}

export interface TestSummary {
  total: number;
  passed: number;
  failed: number;
  error: number;
  skipped: number;
}

/** A run's cases, failed and errored first, then skipped, then passed; each group by task, suite and name. */
export async function runCases(db: Db, runId: string): Promise<{ summary: TestSummary; cases: TestCaseRow[] }> {
  const rows = await db
    .select()
    .from(testCases)
    .where(eq(testCases.runId, runId))
    .orderBy(asc(testCases.task), asc(testCases.suite), asc(testCases.id));
  const cases = rows.sort((a, b) => ORDER[a.status] - ORDER[b.status]);
  const summary: TestSummary = { total: rows.length, passed: 0, failed: 0, error: 0, skipped: 0 };
  for (const c of rows) summary[c.status]++;
  return { summary, cases };
}
