import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { type Cluster, ROOT, type RunView, startCluster } from "../helpers/cluster.ts";

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startAgent("t1", ["--capacity", "3"]);
});
afterAll(() => cluster?.stop());

interface Case {
  task: string;
  suite: string;
  name: string;
  status: string;
  durationMs: number | null;
  message: string | null;
  details: string | null;
}

// Real reports: node's own test runner writes JUnit XML, tape writes TAP; each run step fails (a test fails),
// and the test_results step after it still runs.
const PIPELINE = `tasks:
  node:
    steps:
      - run: |
          mkdir -p t reports
          cat > t/math.test.js <<'JS'
          const { describe, test } = require("node:test");
          const assert = require("node:assert");
          describe("math", () => {
            test("adds", () => assert.equal(1 + 1, 2));
            test("breaks", () => assert.equal(1 + 1, 3));
            test("later", { skip: true }, () => {});
          });
          JS
          node --test --test-reporter=junit --test-reporter-destination=reports/junit.xml t/math.test.js
      - run: echo never runs after the failure
      - test_results: { paths: ["reports/*.xml"], format: junit }
  tape:
    env: { NODE_PATH: ${join(ROOT, "node_modules")} }
    steps:
      - run: |
          cat > t.js <<'JS'
          const test = require("tape");
          test("strings", (t) => { t.equal("a" + "b", "ab", "concatenates"); t.equal("a".repeat(2), "aaa", "repeats"); t.end(); });
          JS
          node t.js > out.tap
      - test_results: { paths: [out.tap], format: tap }
  broken:
    steps:
      - run: echo '<testsuites><testcase name=' > bad.xml
      - test_results: { paths: [bad.xml] }
`;

test("test_results parses node's JUnit XML and tape's TAP; GET /runs/:id/tests lists failed cases first", async () => {
  const id = await cluster.submit(PIPELINE);
  const run = await cluster.waitRun(id, 60_000);
  expect(run.result).toBe("failed");
  const task = (name: string) => run.tasks.find((t) => t.name === name)!.attempts[0]! as RunView["tasks"][number]["attempts"][number] & {
    steps: { status: string; exitCode: number | null; error: string | null }[];
  };
  // the run step failed, the step after it was left out, the report step ran
  expect(task("node").steps.map((s) => s.status)).toEqual(["failed", "pending", "success"]);
  expect(await cluster.log(id, "node", 2)).toContain("reports/junit.xml: 3 tests, 1 failed, 1 skipped");
  expect(task("tape").steps.map((s) => s.status)).toEqual(["failed", "success"]);
  expect(task("broken").steps[1]).toMatchObject({ status: "failed", exitCode: 1 });
  expect(task("broken").steps[1]!.error).toContain("bad.xml: not well-formed XML");

  const res = await cluster.api<{ summary: Record<string, number>; cases: Case[] }>("GET", `/api/v1/runs/${id}/tests`);
  expect(res.status).toBe(200);
  expect(res.body.summary).toEqual({ total: 5, passed: 2, failed: 2, error: 0, skipped: 1 });
  const brief = res.body.cases.map((c) => [c.task, c.suite, c.name, c.status]);
  expect(brief).toEqual([
    ["node", "math", "breaks", "failed"],
    ["tape", "", "repeats", "failed"],
    ["node", "math", "later", "skipped"],
    ["node", "math", "adds", "passed"],
    ["tape", "", "concatenates", "passed"],
  ]);
  const [breaks, repeats] = res.body.cases;
  expect(breaks!.message).toBe("2 == 3");
  expect(breaks!.details).toContain("AssertionError");
  expect(breaks!.durationMs).toBeGreaterThan(0);
  expect(repeats!.details).toContain("expected: aaa");
  expect((await cluster.api("GET", "/api/v1/runs/nope/tests")).status).toBe(404);
}, 90_000);
