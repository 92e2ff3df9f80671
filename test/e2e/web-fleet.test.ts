import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { adminPage, haveChromium, launchChromium } from "../helpers/browser.ts";
import { type Cluster, ROOT, startCluster } from "../helpers/cluster.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";

// The agents page: pause and resume (a drain that sticks across reconnects), remove an offline agent,
// the queue per group and arch, and the command that adds an agent with a fresh registration token.
let cluster: Cluster;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!haveChromium) return;
  cluster = await startCluster({ DROVER_HEARTBEAT_MS: "500", DROVER_LEASE_TTL_MS: "2000", DROVER_RECONNECT_GRACE_MS: "1000" });
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

interface AgentRow {
  id: string;
  name: string;
  group: string;
  state: string;
  paused: boolean;
}
const agents = async () => (await cluster.api<{ agents: AgentRow[] }>("GET", "/api/v1/agents")).body.agents;
const agent = async (name: string) => (await agents()).find((a) => a.name === name);
const row = (page: Page, name: string) => page.locator(`tr[data-agent="${name}"]`);

async function openAgents(): Promise<Page> {
  const page = await adminPage(browser!, cluster.coordinator.url);
  page.on("dialog", (dialog) => void dialog.accept());
  await page.goto(`${cluster.coordinator.url}/agents`);
  return page;
}

describe.skipIf(!haveChromium)("fleet pages", () => {
  test("pause sticks across a reconnect, the queue shows what waits, resume lets it run", async () => {
    let one = await cluster.startAgent("one", ["--label", "pool=one"]);
    const page = await openAgents();
    await row(page, "one").locator("button", { hasText: "Pause" }).click();
    await row(page, "one").locator('[data-field="paused"]').waitFor({ timeout: 10_000 });
    expect((await agent("one"))!.paused).toBe(true);
    const id = await cluster.submit("tasks:\n  t: { labels: { pool: one }, steps: [ { run: echo ran } ] }\n");
    // the agent restarts: it registers again and is still paused
    await stopAll([one.proc]);
    one = await cluster.startAgent("one", ["--label", "pool=one"]);
    await Bun.sleep(1500);
    expect((await cluster.api<{ phase: string }>("GET", `/api/v1/runs/${id}`)).body.phase).toBe("running");
    await page.reload();
    expect(await page.locator("#queue tbody tr").first().innerText()).toMatch(/^any\s+any\s+pool=one\s+1\s+\S+$/);
    // the page reloads itself once the resume is taken: a reload of the test's own at that moment found no page
    const reloaded = page.waitForEvent("load");
    await row(page, "one").locator("button", { hasText: "Resume" }).click();
    await reloaded;
    expect((await cluster.waitRun(id)).result).toBe("success");
    await page.reload();
    expect(await page.locator("#queue").count()).toBe(0);
    expect(await row(page, "one").locator('[data-field="paused"]').count()).toBe(0);
    await page.context().close();
  }, 60_000);

  test("an offline agent is removed from the page", async () => {
    const two = await cluster.startAgent("two");
    await stopAll([two.proc]);
    await waitFor("two to go offline", async () => (await agent("two"))?.state === "offline", 15_000);
    const page = await openAgents();
    await row(page, "two").locator("button", { hasText: "Remove" }).click();
    await waitFor("two's row to go", async () => (await row(page, "two").count()) === 0, 10_000);
    expect(await agent("two")).toBeUndefined();
    await page.context().close();
  }, 30_000);

  test("the add-agent command carries a fresh registration token that registers an agent", async () => {
    const page = await openAgents();
    const command = page.locator("#add-agent-command");
    expect(await command.textContent()).toBe(`curl -fsSL ${cluster.coordinator.url}/install.sh | sh -s -- --token <registration token>`);
    await page.fill("#add-agent-group", "edge");
    await page.click("#add-agent-token");
    await command.filter({ hasText: "drv_reg_" }).waitFor();
    const text = (await command.textContent())!;
    const token = text.match(/--token (drv_reg_\S+) --group edge$/)![1]!;
    const proc = spawnTracked(["bun", "agent/main.ts", "--coordinator", cluster.coordinator.url, "--token", token, "--name", "edge-1", "--work-dir", `${cluster.dir}/edge`, "--group", "edge"], { cwd: ROOT });
    const err = captureOutput(proc.stderr);
    await waitFor("the new agent to register", () => err.text().includes("registered as"), 20_000);
    expect((await agent("edge-1"))!.group).toBe("edge");
    await stopAll([proc]);
    await page.context().close();
  }, 40_000);
});
