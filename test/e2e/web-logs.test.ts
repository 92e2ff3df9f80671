import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { adminPage, haveChromium, launchChromium } from "../helpers/browser.ts";
import { type Cluster, startCluster } from "../helpers/cluster.ts";

// The step log page: numbered lines that link to themselves, folding sections (GitHub's ::group:: and
// Buildkite's --- / +++ headers), and a jump to the first error.
let cluster: Cluster;
let browser: Browser | undefined;
let runId: string;

beforeAll(async () => {
  if (!haveChromium) return;
  cluster = await startCluster();
  await cluster.startAgent("logs-1");
  browser = await launchChromium();
  runId = await cluster.submit(`tasks:
  build:
    steps:
      - run: |
          echo '::group::Install deps'
          echo 'adding a'
          echo 'adding b'
          echo '::endgroup::'
          echo '--- Build'
          echo 'compiling'
          echo 'error: it broke'
          echo '+++ Test'
          echo 'ok 1'
          exit 1
`);
  await cluster.waitRun(runId);
}, 60_000);
afterAll(async () => {
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

describe.skipIf(!haveChromium)("step log lines", () => {
  test("numbered lines, folded sections, the first error one click away", async () => {
    const page = await adminPage(browser!, cluster.coordinator.url);
    await page.goto(`${cluster.coordinator.url}/runs/${runId}/tasks/build/steps/0`);
    await page.locator("#log-state", { hasText: "End of log." }).waitFor();
    expect(await page.locator("#log .ln").allTextContents()).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    expect(await page.locator("#L6 .ln").getAttribute("href")).toBe("#L6");
    const groups = page.locator("#log details.group");
    expect(await groups.evaluateAll((ds) => ds.map((d) => [(d.querySelector("summary") as HTMLElement).innerText.replace(/\s+/g, " ").trim(), (d as HTMLDetailsElement).open]))).toEqual([
      ["1 Install deps", false],
      ["5 Build", false],
      ["8 Test", true],
    ]);
    // the group's lines are folded away, the open section's are not
    expect(await page.locator("#L2").isVisible()).toBe(false);
    expect(await page.locator("#L9").isVisible()).toBe(true);
    await page.click("#log-first-error");
    await page.locator("#L7.target").waitFor();
    expect(await page.locator("#L7").isVisible()).toBe(true);
    expect(new URL(page.url()).hash).toBe("#L7");
    await page.fill("#log-search", "adding");
    expect(await page.locator("#log-count").textContent()).toBe("2 matches");
    await page.context().close();
  });

  test("a #L link opens the page at that line, unfolding its section", async () => {
    const page = await adminPage(browser!, cluster.coordinator.url);
    await page.goto(`${cluster.coordinator.url}/runs/${runId}/tasks/build/steps/0#L3`);
    await page.locator("#L3.target").waitFor();
    expect(await page.locator("#L3").isVisible()).toBe(true);
    expect(await page.locator("#L3 .lt").textContent()).toBe("adding b");
    await page.context().close();
  });
});
