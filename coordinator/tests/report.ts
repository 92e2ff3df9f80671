import type { TestReportFormat } from "../../shared/pipeline/index.ts";
import { parseJunit } from "./junit.ts";
import { parseTap } from "./tap.ts";

export type CaseStatus = "passed" | "failed" | "error" | "skipped";

/** One test case as a report states it. */
export interface ParsedCase {
  suite: string;
  name: string;
  status: CaseStatus;
  durationMs: number | null;
  /** the one-line reason of a failure, error or skip */
  message: string | null;
  /** the longer text: a stack trace, a diagnostic */
  details: string | null;
}

// Stored text is bounded: a runaway stack trace or output dump must not bloat the database.
const MAX_MESSAGE = 1000;
const MAX_DETAILS = 8000;
const clip = (text: string | null, max: number) => (text && text.length > max ? `${text.slice(0, max)}…` : text);

/** Parses a JUnit XML or TAP report; a report that is not one of them throws, saying what is wrong. */
export function parseReport(text: string, format: TestReportFormat): ParsedCase[] {
  const cases = format === "junit" ? parseJunit(text) : parseTap(text);
  return cases.map((c) => ({ ...c, message: clip(c.message, MAX_MESSAGE), details: clip(c.details, MAX_DETAILS) }));
}
