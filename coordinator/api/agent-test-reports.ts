import { Hono } from "hono";
import type { TestReportCounts } from "../../shared/protocol/archive-api.ts";
import { TEST_REPORT_FORMATS, type TestReportFormat } from "../../shared/pipeline/index.ts";
import { DroverError } from "../../shared/errors.ts";
import { parseReport } from "../tests/report.ts";
import { storeCases } from "../tests/store.ts";
import { ownAttempt } from "./archive-targets.ts";
import type { AppEnv } from "./env.ts";
import { boundedText, nonNegativeInteger } from "./validate.ts";

/** A report larger than this is refused: its cases would not be read by anyone anyway. */
export const MAX_REPORT_BYTES = 16 * 1024 * 1024;

/** A `test_results` step's report, sent as it is: parsed and stored here, so parsers live in one place. */
export const agentTestReportRoutes = new Hono<AppEnv>().put("/attempts/:attempt/test-reports/:step/:path{.+}", async (c) => {
  const found = ownAttempt(c);
  const step = nonNegativeInteger("step", c.req.param("step"));
  const format = c.req.query("format") as TestReportFormat;
  if (!TEST_REPORT_FORMATS.includes(format)) throw new DroverError("bad_request", `format must be one of ${TEST_REPORT_FORMATS.join(", ")}`);
  const text = await boundedText(c, MAX_REPORT_BYTES, "a test report");
  let cases: ReturnType<typeof parseReport>;
  try {
    cases = parseReport(text, format);
  } catch (e) {
    throw new DroverError("bad_request", `${c.req.param("path")}: ${(e as Error).message}`);
  }
  const { attempt, task, active } = found;
  const origin = { runId: active.run.id, task: task.name, attemptId: attempt.id, attempt: attempt.number, step, file: c.req.param("path") };
  await storeCases(c.get("services").db, origin, cases);
  const count = (status: string) => cases.filter((t) => t.status === status).length;
  return c.json({ cases: cases.length, failed: count("failed") + count("error"), skipped: count("skipped") } satisfies TestReportCounts, 201);
});
