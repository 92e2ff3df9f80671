import { Parser, type Result } from "tap-parser";
import type { ParsedCase } from "./report.ts";

const yamlish = (diag: Result["diag"]): string | null => {
  if (!diag || Object.keys(diag).length === 0) return null;
  return Object.entries(diag)
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("\n");
};

/** TAP (versions 12 to 14, with subtests): each test point is a case; a subtest's name is its suite. */
export function parseTap(tap: string): ParsedCase[] {
  const cases: ParsedCase[] = [];
  let sawPlanOrPoint = false;
  const parser = new Parser();
  const collect = (p: Parser, suite: string) => {
    p.on("plan", () => {
      sawPlanOrPoint = true;
    });
    p.on("child", (child: Parser) => collect(child, [suite, child.name].filter(Boolean).join(" › ")));
    p.on("assert", (point: Result) => {
      sawPlanOrPoint = true;
      // a subtest's closing point sums up its children, which are cases of their own
      if (point.closingTestPoint) return;
      const skipped = point.skip !== false || point.todo !== false;
      const reason = typeof point.skip === "string" ? point.skip : typeof point.todo === "string" ? point.todo : null;
      cases.push({
        suite,
        name: point.name || `test ${point.id}`,
        status: skipped ? "skipped" : point.ok ? "passed" : "failed",
        durationMs: point.time ?? null,
        message: skipped ? reason || null : point.ok ? null : point.name || null,
        details: point.ok ? null : yamlish(point.diag),
      });
    });
  };
  collect(parser, "");
  parser.end(tap);
  if (!sawPlanOrPoint) throw new Error("not a TAP report: no plan and no test point");
  return cases;
}
