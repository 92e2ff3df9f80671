import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, type Cluster, ROOT, type RunView, startCluster } from "../helpers/cluster.ts";
import { captureOutput, spawnTracked, waitFor } from "../helpers/processes.ts";

// A newcomer's day one: each example runs green with `drover run` from its own directory, as the
// README says; the Node example's test results are on the run.
let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
  // one agent that says it can run both archs, for the matrix example
  await cluster.startAgent("ex-1", ["--capacity", "4", "--arch", "amd64,arm64"]);
}, 60_000);
afterAll(() => cluster?.stop());

/** `drover run` in a copy of the example (runs write nothing into the repo). */
function drover(example: string) {
  const dir = mkdtempSync(join(cluster.dir, `${example}-`));
  cpSync(join(ROOT, "examples", example), dir, { recursive: true });
  const proc = spawnTracked(["bun", join(ROOT, "cli/main.ts"), "run"], {
    cwd: dir,
    env: { DROVER_URL: cluster.coordinator.url, DROVER_TOKEN: ADMIN_TOKEN, NO_COLOR: "1" },
  });
  const out = captureOutput(proc.stdout);
  const run = waitFor("the run's address", () => out.text().match(/^run (\S+): http/m)?.[1], 20_000);
  return { proc, out: proc.exited.then(() => out.text()), run };
}
/** The run's exit code beside what it printed, so a red run's failure says why. */
async function finished(cli: ReturnType<typeof drover>) {
  return { code: await cli.proc.exited, out: await cli.out };
}
const getRun = async (id: string) => (await cluster.api<RunView>("GET", `/api/v1/runs/${id}`)).body;

test("node-project: green, with its JUnit results on the run", async () => {
  const cli = drover("node-project");
  expect(await finished(cli)).toMatchObject({ code: 0 });
  const tests = await cluster.api<{ summary: Record<string, number> }>("GET", `/api/v1/runs/${await cli.run}/tests`);
  expect(tests.body.summary).toMatchObject({ total: 2, passed: 2, failed: 0 });
}, 60_000);

test("matrix-build: one task per combination, then the report", async () => {
  const cli = drover("matrix-build");
  expect(await finished(cli)).toMatchObject({ code: 0 });
  const run = await getRun(await cli.run);
  expect(run.tasks.map((t) => t.name)).toEqual([
    "test[arch=amd64,node=20]",
    "test[arch=amd64,node=22]",
    "test[arch=arm64,node=20]",
    "test[arch=arm64,node=22]",
    "report",
  ]);
}, 60_000);

test("approval-deploy: deploy waits for an approval, then runs", async () => {
  const cli = drover("approval-deploy");
  const id = await cli.run;
  await waitFor("deploy to wait", async () => (await getRun(id)).tasks.find((t) => t.name === "deploy")?.status === "waiting_approval", 20_000);
  expect((await cluster.api("POST", `/api/v1/runs/${id}/tasks/deploy/approve`)).status).toBe(200);
  const { code, out } = await finished(cli);
  expect({ code, out }).toMatchObject({ code: 0 });
  expect(out).toContain("[deploy] release ");
  expect((await getRun(id)).tasks.find((t) => t.name === "notify-failure")?.status).toBe("skipped");
}, 60_000);

test("cached-monorepo: the second run restores both packages' caches", async () => {
  expect(await finished(drover("cached-monorepo"))).toMatchObject({ code: 0 });
  const second = await finished(drover("cached-monorepo"));
  expect(second).toMatchObject({ code: 0 });
  const out = second.out;
  expect(out).toMatch(/\[api\] restored cache api-deps-/);
  expect(out).toMatch(/\[web\] restored cache web-deps-/);
  expect(out).toContain("[bundle] out/api:");
}, 90_000);
