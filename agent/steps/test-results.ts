import { lstatSync } from "node:fs";
import { join } from "node:path";
import type { TestReportFormat } from "../../shared/pipeline/types.ts";
import { type StepContext, matchPaths, plural } from "./common.ts";

/**
 * Sends each matched report to the coordinator, which parses and stores its cases (coordinator/tests).
 * A report that is not JUnit XML or TAP fails the step, saying why; failed tests do not: the step that
 * ran them already failed.
 */
export async function testResults(step: { paths: string[]; format: TestReportFormat }, ctx: StepContext): Promise<void> {
  const totals = { reports: 0, cases: 0, failed: 0, skipped: 0 };
  for (const path of matchPaths(ctx, step.paths)) {
    if (!lstatSync(join(ctx.dir, path)).isFile()) continue;
    const stored = await ctx.files.putTestReport(ctx.step, path, step.format, Bun.file(join(ctx.dir, path)));
    ctx.log(`${path}: ${plural(stored.cases, "test")}, ${stored.failed} failed, ${stored.skipped} skipped`);
    totals.reports++;
    totals.cases += stored.cases;
    totals.failed += stored.failed;
    totals.skipped += stored.skipped;
  }
  if (totals.reports === 0) throw new Error(`no ${step.format} report matches ${step.paths.join(", ")}`);
  ctx.log(`${plural(totals.cases, "test")} in ${plural(totals.reports, "report")}: ${totals.failed} failed, ${totals.skipped} skipped`);
}
