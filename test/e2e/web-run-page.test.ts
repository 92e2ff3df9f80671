import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { adminPage, haveChromium, launchChromium } from "../helpers/browser.ts";
import { type Cluster, type RunView, startCluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";

// The run page of issue "day one": approvals banner, who cancelled, per-task rerun, attempt chips that
// link to their logs, a failed card's exit code and last lines, test results failed first, artifacts,
// the queue reason, stopped steps, and "Restart failed" only where something failed.

let cluster: Cluster;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!haveChromium) return;
  cluster = await startCluster();
  await cluster.startAgent("page-1", ["--capacity", "4"]);
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

async function open(path: string): Promise<Page> {
  const page = await adminPage(browser!, cluster.coordinator.url, { height: 700 });
  page.on("dialog", (dialog) => void dialog.accept());
  await page.goto(`${cluster.coordinator.url}${path}`);
  return page;
}
const getRun = async (id: string) => (await cluster.api<RunView>("GET", `/api/v1/runs/${id}`)).body;

const PIPELINE = `tasks:
  build:
    steps:
      - run: echo 'built at dawn' > a.txt
      - save_artifact: { paths: [a.txt] }
  test:
    depends: [build]
    steps:
      - run: |
          cat > math.test.js <<'JS'
          const { test } = require("node:test");
          const assert = require("node:assert");
          test("adds", () => assert.equal(1 + 1, 2));
          test("breaks", () => assert.equal(1 + 1, 3));
          JS
          echo "the last words before the failure"
          node --test --test-reporter=junit --test-reporter-destination=junit.xml math.test.js
      - test_results: { paths: [junit.xml] }
  deploy:
    depends: [build]
    approval: { min_approvers: 2 }
    steps: [ { run: echo deployed } ]
  arm:
    arch: arm64
    steps: [ { run: "true" } ]
  slow:
    steps: [ { run: sleep 60 } ]
`;

describe.skipIf(!haveChromium)("run page", () => {
  test("approvals banner, failure card, tests, artifacts, queue reason; cancel says who; stopped, not failed", async () => {
    const id = await cluster.submit(PIPELINE);
    await waitFor("test to fail", async () => (await getRun(id)).tasks.find((t) => t.name === "test")?.status === "failed", 30_000);
    const page = await open(`/runs/${id}`);
    const banner = page.locator("#approvals");
    await banner.locator("text=deploy is waiting for approval: 2 more approvers needed").waitFor({ timeout: 15_000 });
    // the banner follows as approvals come in, without a reload
    expect((await cluster.api("POST", `/api/v1/runs/${id}/tasks/deploy/approve`)).status).toBe(200);
    await banner.locator("text=deploy is waiting for approval: approved by admin; 1 more approver needed").waitFor({ timeout: 10_000 });
    // it stays in view at the bottom of the page
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    const box = await banner.boundingBox();
    expect(box!.y).toBeGreaterThanOrEqual(0);
    expect(box!.y).toBeLessThan(700);
    await expect(banner.locator("button", { hasText: "Approve deploy" }).isVisible()).resolves.toBe(true);

    const failed = page.locator('.task[data-task="test"]');
    expect(await failed.locator(".failure").textContent()).toContain("exit code 1");
    expect(await failed.locator(".tail").textContent()).toBe("the last words before the failure");
    expect(await failed.locator(".chip").getAttribute("href")).toBe(`/runs/${id}/tasks/test/steps/0?attempt=1`);
    expect(await page.locator('.task[data-task="arm"] [data-field="message"]').textContent()).toBe("queued: no online agent matches arch=arm64");
    // its attempt waits for an agent: the card says queued, not running
    expect(await page.locator('.task[data-task="arm"] [data-field="status"]').textContent()).toBe("queued");
    const rows = await page.locator("table.tests tbody tr").evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).innerText.replace(/\s+/g, " ").trim()));
    expect(rows[0]).toMatch(/^failed test › breaks 2 == 3 details test \d+ms$/);
    expect(rows[1]).toMatch(/^passed test › adds test \d+ms$/);
    const artifact = page.locator(".artifacts a", { hasText: "a.txt" });
    expect(await artifact.getAttribute("href")).toBe(`/runs/${id}/artifacts/build/a.txt`);
    expect(await page.locator(".artifacts li").textContent()).toContain("build · 14 B");
    expect(await (await page.request.get(`${cluster.coordinator.url}${await artifact.getAttribute("href")}`)).text()).toBe("built at dawn\n");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Download the whole run's log")]);
    const whole = await Bun.file((await download.path())!).text();
    expect(whole).toContain("=== build › step 1: echo 'built at dawn' > a.txt (attempt 1, success)\n");
    expect(whole).toContain("=== test › step 1: cat > math.test.js <<'JS' (attempt 1, failed)\nthe last words before the failure\n");
    expect(whole).toContain("=== arm: not started (queued: no online agent matches arch=arm64)\n=== build › step 1");
    expect(whole).toContain("=== deploy: not started (waiting_approval)\n");
    // nothing failed yet in a running run: no "Restart failed"
    expect(await page.locator("button", { hasText: "Restart failed" }).isVisible()).toBe(false);

    await page.click("button:has-text('Cancel')");
    await waitFor("the run to end", async () => (await getRun(id)).phase === "cancelled", 20_000);
    await page.locator("button", { hasText: "Restart failed" }).waitFor({ state: "visible", timeout: 10_000 });
    await page.reload();
    expect(await page.locator('[data-field="cancelled-by"]').textContent()).toBe("Cancelled by admin");
    expect(await page.locator('.task[data-task="slow"] a[data-step="0"]').getAttribute("class")).toBe("step s-stopped");
    expect(await page.locator("#approvals").isVisible()).toBe(false);
    await page.context().close();
  }, 90_000);

  test("a task reruns from its card, and the page follows it", async () => {
    const id = await cluster.submit("tasks:\n  flaky: { steps: [ { run: '[ \"$DROVER_ATTEMPT\" -gt 1 ] || exit 4' } ] }\n");
    expect((await cluster.waitRun(id)).result).toBe("failed");
    const page = await open(`/runs/${id}`);
    // a run that succeeded offers no "Restart failed"; this one failed, so it does
    expect(await page.locator("button", { hasText: "Restart failed" }).isVisible()).toBe(true);
    await page.click("button:has-text('Rerun flaky')");
    await page.locator('.task[data-task="flaky"] [data-field="status"]', { hasText: "success" }).waitFor({ timeout: 20_000 });
    await page.locator('.task[data-task="flaky"] .chip', { hasText: "#2 success" }).waitFor({ timeout: 10_000 });
    expect((await getRun(id)).result).toBe("success");
    await page.reload();
    expect(await page.locator("button", { hasText: "Restart failed" }).isVisible()).toBe(false);
    await page.context().close();
  }, 60_000);

  test("a matrix task's combinations are grouped under its name", async () => {
    const id = await cluster.submit('tasks:\n  m: { matrix: { node: ["20", "22"] }, steps: [ { run: "true" } ] }\n  after: { depends: [m], steps: [ { run: "true" } ] }\n');
    await cluster.waitRun(id);
    const page = await open(`/runs/${id}`);
    const group = page.locator('.matrix[data-matrix="m"]');
    expect(await group.locator(".matrix-name").textContent()).toBe("m · matrix of 2");
    expect(await group.locator(".task").evaluateAll((boxes) => boxes.map((b) => (b as HTMLElement).dataset.task))).toEqual(["m[node=20]", "m[node=22]"]);
    expect(await page.locator('.matrix[data-matrix="after"]').count()).toBe(0);
    await page.context().close();
  }, 30_000);
});
