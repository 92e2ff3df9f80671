import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { ADMIN_TOKEN, type Cluster, ROOT, type RunView, startCluster } from "../helpers/cluster.ts";
import { startGitServer } from "../helpers/git-server.ts";
import { waitFor } from "../helpers/processes.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`!! SKIPPING the web UI tests: ${CHROMIUM} is missing (apt-get install -y chromium)`);
const OUT = join(ROOT, "test/output");

let cluster: Cluster;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!haveChromium) return;
  mkdirSync(OUT, { recursive: true });
  cluster = await startCluster();
  await cluster.startAgent("web-1", ["--capacity", "3", "--label", "disk=ssd"]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});
afterAll(async () => {
  await browser?.close().catch(() => {});
  await cluster?.stop();
});

const getRun = async (id: string) => (await cluster.api<RunView>("GET", `/api/v1/runs/${id}`)).body;
const statusOf = (page: Page, task: string) => page.locator(`.task[data-task="${task}"] [data-field="status"]`);
const shot = (page: Page, name: string) => page.screenshot({ path: join(OUT, `web-${name}.png`), fullPage: true });

async function createUser(user: string, role: string): Promise<string> {
  const res = await cluster.api<{ token: string }>("POST", "/api/v1/tokens", { user, role });
  expect(res.status).toBe(201);
  return res.body.token;
}

/** A fresh browser session logged in through the login form, on the runs list. */
async function login(token: string): Promise<Page> {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${cluster.coordinator.url}/agents`);
  await page.waitForURL(/\/login\?next=%2Fagents$/);
  await page.fill('input[name="token"]', token);
  await page.click('button[type="submit"]');
  await page.waitForURL(/\/agents$/);
  return page;
}

describe.skipIf(!haveChromium)("web UI", () => {
  test("login: pages need the cookie; a bad token is refused; a good one is kept HttpOnly, SameSite=Strict", async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    await page.goto(`${cluster.coordinator.url}/runs/nope`);
    expect(new URL(page.url()).pathname).toBe("/login");
    await page.fill('input[name="token"]', "not-a-token");
    await page.click('button[type="submit"]');
    // refused: back on the form, with the reason, and still on the way to the page first asked for
    await page.waitForURL(/\/login\?next=%2Fruns%2Fnope&error=invalid$/);
    await expect(page.locator(".login .error").textContent()).resolves.toContain("not valid");
    await shot(page, "login");
    await page.fill('input[name="token"]', ADMIN_TOKEN);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/runs\/nope$/);
    expect(await page.locator("h1").textContent()).toBe("Not found");
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: "drover_token", value: ADMIN_TOKEN, httpOnly: true, sameSite: "Strict" });
    // the login form only takes posts from the UI's own pages, and only sends users on within the site
    const post = (origin: string, next: string, token = ADMIN_TOKEN) =>
      fetch(`${cluster.coordinator.url}/login`, { method: "POST", redirect: "manual", headers: { origin }, body: new URLSearchParams({ token, next }) });
    expect((await post("http://evil.example", "/")).status).toBe(403);
    const refused = await post(cluster.coordinator.url, "/agents", "not-a-token");
    expect([refused.status, refused.headers.get("location"), refused.headers.get("set-cookie")]).toEqual([303, "/login?next=%2Fagents&error=invalid", null]);
    expect((await post(cluster.coordinator.url, "//evil.example/x")).headers.get("location")).toBe("/");
    await page.click("text=Log out");
    await page.waitForURL(/\/login$/);
    expect(await context.cookies()).toEqual([]);
    await context.close();
  });

  test("runs list: filters by group, phase, result and user from the form", async () => {
    const ok = await cluster.submit("tasks:\n  a: { steps: [ { run: echo ok } ] }\n", "web-list");
    const bad = await cluster.submit("tasks:\n  a: { steps: [ { run: exit 3 } ] }\n", "web-list");
    await cluster.waitRun(ok);
    await cluster.waitRun(bad);
    const page = await login(ADMIN_TOKEN);
    await page.goto(`${cluster.coordinator.url}/?group=web-list`);
    expect(await page.locator("tbody tr").count()).toBe(2);
    await page.selectOption("#filter-result", "failed");
    await page.click("text=Filter");
    await page.waitForURL(/result=failed/);
    expect(await page.locator("tbody tr").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.run))).toEqual([bad]);
    await page.goto(`${cluster.coordinator.url}/?group=web-list&user=nobody`);
    expect(await page.locator("tbody tr").count()).toBe(0);
    await page.goto(`${cluster.coordinator.url}/`);
    await shot(page, "runs");
    await page.context().close();
  });

  test("step log: followed live, with ANSI colours, search highlights and a download", async () => {
    // the step waits for the test between its lines (a fixed sleep ran out before a loaded machine showed the page)
    const go = join(cluster.dir, `second-line-${Date.now()}`);
    const id = await cluster.submit(`tasks:
  slow:
    steps:
      - run: |
          printf 'first \\033[1;32mgreen\\033[0m line\\n'
          until [ -e ${go} ]; do sleep 0.05; done
          echo second line
`);
    const page = await login(ADMIN_TOKEN);
    await page.goto(`${cluster.coordinator.url}/runs/${id}/tasks/slow/steps/0`);
    await page.locator("#log", { hasText: "first green line" }).waitFor({ timeout: 15_000 });
    // the first line is on screen while the step is still running: it came live
    expect(await page.locator("#log").textContent()).not.toContain("second line");
    expect((await getRun(id)).phase).toBe("running");
    expect(await page.locator("#log span.fg32.b").textContent()).toBe("green");
    await shot(page, "log-live");
    writeFileSync(go, "");
    await page.locator("#log", { hasText: "second line" }).waitFor({ timeout: 20_000 });
    await page.locator("#log-state", { hasText: "End of log." }).waitFor();
    await page.fill("#log-search", "LINE");
    expect(await page.locator("#log-count").textContent()).toBe("2 matches");
    expect(await page.locator("#log mark").allTextContents()).toEqual(["line", "line"]);
    await page.press("#log-search", "Enter");
    expect(await page.locator("#log mark.current").textContent()).toBe("line");
    await shot(page, "log");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Download")]);
    expect(readFileSync((await download.path())!, "utf8")).toBe("first \x1b[1;32mgreen\x1b[0m line\nsecond line\n");
    await page.context().close();
  });

  test("run page: approve a waiting task and watch it run to success without reloading", async () => {
    const id = await cluster.submit(`tasks:
  build: { steps: [ { run: echo built } ] }
  test: { depends: [build], steps: [ { run: echo tested } ] }
  deploy: { depends: [build, test], approval: { min_approvers: 1 }, steps: [ { run: echo deployed } ] }
`);
    const page = await login(ADMIN_TOKEN);
    await page.goto(`${cluster.coordinator.url}/runs/${id}`);
    await statusOf(page, "deploy").filter({ hasText: "waiting approval" }).waitFor();
    expect(await page.locator(".task[data-task=deploy] .parents").textContent()).toBe("after build, test");
    expect(await page.locator("svg.edges > path").count()).toBe(3);
    await shot(page, "run-waiting");
    // a value on window survives only if the page is never reloaded
    await page.evaluate(() => Object.assign(window, { stayed: true }));
    await page.click(".task[data-task=deploy] button:has-text('Approve')");
    await statusOf(page, "deploy").filter({ hasText: "success" }).waitFor();
    await page.locator('[data-field="result"]', { hasText: "success" }).waitFor();
    expect(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
    // attempts and approvals come from re-reading the run after the events
    await page.locator(".task[data-task=deploy] [data-field=approvals]", { hasText: "1/1 approvals" }).waitFor();
    await page.locator(".task[data-task=deploy] .chip.s-success", { hasText: "#1 success" }).waitFor();
    expect(await page.locator("#live.on").count()).toBe(1);
    await page.locator("button:text-is('Restart')").waitFor();
    // nothing failed: there is nothing a restart from failed would run
    expect(await page.locator("button:has-text('Restart failed')").isHidden()).toBe(true);
    expect(await page.locator("button:has-text('Cancel')").isHidden()).toBe(true);
    await shot(page, "run-done");
    await page.context().close();
  });

  test("buttons follow the role: a viewer sees none, a member no drain, an admin drains an agent", async () => {
    await cluster.startAgent("web-2", ["--label", "pool=spare"]);
    const id = await cluster.submit("tasks:\n  gate: { approval: { min_approvers: 1 }, steps: [ { run: echo x } ] }\n");
    await waitFor("waiting_approval", async () => (await getRun(id)).tasks[0]!.status === "waiting_approval");
    const viewer = await login(await createUser("vera", "viewer"));
    await viewer.goto(`${cluster.coordinator.url}/runs/${id}`);
    await statusOf(viewer, "gate").filter({ hasText: "waiting approval" }).waitFor();
    expect(await viewer.locator("button[data-api]").count()).toBe(0);
    await viewer.goto(`${cluster.coordinator.url}/agents`);
    expect(await viewer.locator("button[data-api]").count()).toBe(0);
    await shot(viewer, "viewer-agents");
    await viewer.context().close();

    const member = await login(await createUser("mona", "member"));
    await member.goto(`${cluster.coordinator.url}/runs/${id}`);
    // the approvals banner's button, then the task card's
    expect(await member.locator("button:visible").allTextContents()).toEqual(["Log out", "Cancel", "Approve gate", "Approve"]);
    await member.goto(`${cluster.coordinator.url}/agents`);
    expect(await member.locator("button:has-text('Drain')").count()).toBe(0);
    await member.context().close();
    expect((await cluster.api("POST", `/api/v1/runs/${id}/cancel`)).status).toBe(202);

    const admin = await login(ADMIN_TOKEN);
    const row = admin.locator("tr[data-agent=web-2]");
    expect(await row.textContent()).toContain("pool=spare");
    await shot(admin, "agents");
    admin.on("dialog", (dialog) => void dialog.accept());
    await row.locator("button:has-text('Drain')").click();
    await admin.waitForLoadState("load");
    await waitFor("web-2 to drain", async () => {
      await admin.reload();
      return /draining|offline/.test((await admin.locator("tr[data-agent=web-2] .badge").textContent()) ?? "");
    });
    expect(await admin.locator("tr[data-agent=web-1] .badge").textContent()).toBe("online");
    await admin.context().close();
  });

  test("projects: each project's branches with their latest run; a run of one shows its number and source", async () => {
    const server = startGitServer();
    try {
      const repo = server.createRepo("team/site.git", { private: true });
      const pipeline = "tasks:\n  build: { steps: [ { run: echo built } ] }\n";
      const sha = await server.commit("team/site.git", { ".drover.yml": pipeline }, { message: "Build the site\n\nwith details" });
      await server.commit("team/site.git", { "x.txt": "x" }, { branch: "feature/y", message: "feature work" });
      const created = await cluster.api("POST", "/api/v1/projects", { name: "site", repo: { url: repo, forge: "gitea", credentials: server.token } });
      expect(created.status).toBe(201);
      for (const branch of ["main", "feature/y"]) {
        const run = await cluster.api<{ id: string }>("POST", "/api/v1/projects/site/runs", { branch });
        await cluster.waitRun(run.body.id);
      }
      const page = await login(ADMIN_TOKEN);
      await page.click("nav >> text=Projects");
      await page.waitForURL(/\/projects$/);
      const section = page.locator("section[data-project=site]");
      expect(await section.locator("tr[data-branch]").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.branch))).toEqual(["feature/y", "main"]);
      expect(await section.locator("tr[data-branch=main] td").allTextContents()).toEqual([
        "main", "site #1", "success", sha.slice(0, 8), "Build the site", expect.any(String), "",
      ]);
      await shot(page, "projects");
      await page.click("section[data-project=site] h2 a");
      await page.waitForURL(/\/projects\/site$/);
      await page.click("button:has-text('Run main')");
      await page.waitForURL(/\/runs\/\w+$/);
      expect(await page.locator("h1").textContent()).toBe("Run site #3");
      expect(await page.locator('[data-field="source-commit"]').textContent()).toBe(sha.slice(0, 8));
      expect(await page.locator('[data-field="source-branch"]').textContent()).toBe("main");
      expect(await page.locator('[data-field="source-message"]').textContent()).toBe("Build the site");
      expect(await page.locator('[data-field="source-trigger"]').textContent()).toBe("admin");
      await page.locator('[data-field="result"]', { hasText: "success" }).waitFor();
      await shot(page, "project-run");
      await page.goto(`${cluster.coordinator.url}/?project=site&branch=main`);
      expect(await page.locator("tbody tr").count()).toBe(2);
      expect(await page.locator("tbody tr").first().locator("td").allTextContents()).toEqual(
        expect.arrayContaining(["site #3", "site", sha.slice(0, 8), "main", "Build the site", "Drover Test", "admin"]),
      );
      await page.context().close();
    } finally {
      await server.stop();
    }
  }, 60_000);
});
