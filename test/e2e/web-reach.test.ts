import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import AxeBuilder from "@axe-core/playwright";
import type { Browser, Page } from "playwright-core";
import { adminPage, haveChromium, launchChromium } from "../helpers/browser.ts";
import { type Cluster, startCluster } from "../helpers/cluster.ts";

// Look and reach: every page passes axe-core with no serious or critical violation, in the light and the
// dark theme, and fits a 390 px wide phone without the page scrolling sideways.

let cluster: Cluster;
let browser: Browser | undefined;
let pages: Record<string, string> = {};

beforeAll(async () => {
  if (!haveChromium) return;
  cluster = await startCluster();
  await cluster.startAgent("reach-1", ["--capacity", "3"]);
  const id = await cluster.submit(`tasks:
  build: { steps: [ { run: "printf '\\\\033[32mok\\\\033[0m\\\\n' | tee a.txt" }, { save_artifact: { paths: [a.txt] } } ] }
  test:
    depends: [build]
    steps:
      - run: |
          echo '<testsuite name="s"><testcase name="a"><failure message="boom">trace</failure></testcase><testcase name="b"/></testsuite>' > r.xml
          echo failing; exit 2
      - test_results: { paths: [r.xml] }
  deploy: { depends: [build], approval: true, steps: [ { run: echo deployed } ] }
  arm: { arch: arm64, steps: [ { run: 'true' } ] }
`);
  await Bun.sleep(1500);
  pages = {
    runs: "/",
    run: `/runs/${id}`,
    log: `/runs/${id}/tasks/test/steps/0`,
    agents: "/agents",
    projects: "/projects",
  };
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

const open = (colorScheme: "light" | "dark", width: number, loggedIn = true) =>
  adminPage(browser!, cluster.coordinator.url, { width, colorScheme, loggedIn });

/** The serious and critical axe violations of the page, as `rule: target` lines, so a failure says where. */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(" ")} (${n.failureSummary?.split("\n")[1]?.trim() ?? ""})`));
}

const overflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

describe.skipIf(!haveChromium)("look and reach", () => {
  for (const scheme of ["light", "dark"] as const) {
    test(`no serious or critical axe-core violation on any page (${scheme} theme)`, async () => {
      const found: string[] = [];
      const login = await open(scheme, 1280, false);
      await login.goto(`${cluster.coordinator.url}/login`);
      found.push(...(await violations(login)).map((v) => `login: ${v}`));
      await login.context().close();
      const page = await open(scheme, 1280);
      for (const [name, path] of Object.entries(pages)) {
        await page.goto(`${cluster.coordinator.url}${path}`);
        await page.waitForLoadState("networkidle").catch(() => {});
        found.push(...(await violations(page)).map((v) => `${name}: ${v}`));
      }
      // the theme follows the system setting
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(background).toBe(scheme === "dark" ? "rgb(15, 18, 24)" : "rgb(245, 246, 248)");
      await page.context().close();
      expect(found).toEqual([]);
    }, 90_000);
  }

  test("every page fits 390 px: nothing but the DAG and logs scrolls sideways", async () => {
    const page = await open("light", 390);
    const wide: string[] = [];
    for (const [name, path] of Object.entries(pages)) {
      await page.goto(`${cluster.coordinator.url}${path}`);
      const extra = await overflow(page);
      if (extra > 0) wide.push(`${name}: ${extra}px too wide`);
    }
    await page.context().close();
    expect(wide).toEqual([]);
  }, 60_000);
});
