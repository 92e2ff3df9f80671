import { XMLParser, XMLValidator } from "fast-xml-parser";
import type { CaseStatus, ParsedCase } from "./report.ts";

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  // prefixed: node's reporter writes a `failure` attribute beside the <failure> element
  attributeNamePrefix: "@",
  textNodeName: "#text",
  // these may appear once or many times: always arrays, so one shape serves both
  isArray: (name) => ["testsuite", "testcase", "failure", "error", "skipped"].includes(name),
});

const list = (value: unknown): Node[] => (Array.isArray(value) ? (value as Node[]) : []);
const text = (value: unknown): string | null => {
  if (typeof value === "string") return value.trim() || null;
  if (value && typeof value === "object" && "#text" in value) return String((value as Node)["#text"]).trim() || null;
  return null;
};
const attr = (node: Node, name: string): string | null => {
  const value = node[`@${name}`];
  return typeof value === "string" || typeof value === "number" ? String(value) : null;
};

function outcome(testcase: Node): { status: CaseStatus; problem: Node | null } {
  for (const [key, status] of [["failure", "failed"], ["error", "error"], ["skipped", "skipped"]] as const) {
    const found = list(testcase[key])[0];
    if (found !== undefined) return { status, problem: typeof found === "object" ? found : { "#text": found } };
  }
  return { status: "passed", problem: null };
}

function cases(suite: Node, suiteName: string): ParsedCase[] {
  const own = list(suite.testcase).map((testcase): ParsedCase => {
    const { status, problem } = outcome(testcase);
    const seconds = Number(attr(testcase, "time"));
    const message = problem ? (attr(problem, "message") ?? text(problem)?.split("\n")[0] ?? null) : null;
    return {
      suite: attr(testcase, "classname") && suiteName === "" ? attr(testcase, "classname")! : suiteName,
      name: attr(testcase, "name") ?? "(unnamed)",
      status,
      durationMs: attr(testcase, "time") !== null && Number.isFinite(seconds) ? Math.round(seconds * 1e6) / 1e3 : null,
      message: status === "skipped" && message === "true" ? null : message,
      details: problem ? text(problem) : null,
    };
  });
  // suites nest (node's reporter nests describe blocks; other tools nest packages)
  const nested = list(suite.testsuite).flatMap((child) => cases(child, [suiteName, attr(child, "name") ?? ""].filter(Boolean).join(" › ")));
  return [...own, ...nested];
}

/** JUnit XML as JUnit, Surefire, pytest, Jest and node's test runner write it: `<testsuites>`, `<testsuite>` or bare cases. */
export function parseJunit(xml: string): ParsedCase[] {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const doc = parser.parse(xml) as Node;
  const root = (doc.testsuites ?? doc.testsuite ?? null) as Node | Node[] | null;
  if (root === null) throw new Error("not a JUnit report: no <testsuites> or <testsuite> element");
  const top = Array.isArray(root) ? { testsuite: root } : doc.testsuites ? root : { testsuite: [root].flat() };
  return cases(top as Node, "");
}
