import { index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { runs } from "./runs.ts";

/** Test cases a run's `test_results` steps parsed from JUnit XML or TAP reports (coordinator/tests). */
export const testCases = sqliteTable(
  "test_cases",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    task: text("task").notNull(),
    attemptId: text("attempt_id").notNull(),
    attempt: integer("attempt").notNull(),
    step: integer("step").notNull(),
    /** the report file, relative to the work dir */
    file: text("file").notNull(),
    suite: text("suite").notNull(),
    name: text("name").notNull(),
    status: text("status", { enum: ["passed", "failed", "error", "skipped"] }).notNull(),
    durationMs: real("duration_ms"),
    message: text("message"),
    details: text("details"),
  },
  (t) => [index("test_cases_run").on(t.runId, t.task)],
);
