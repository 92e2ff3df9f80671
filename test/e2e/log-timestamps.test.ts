import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { adminPage, haveChromium, launchChromium } from "../helpers/browser.ts";
import { ADMIN_TOKEN, type Cluster, startCluster } from "../helpers/cluster.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";

// Per-line timestamps: the agent records when it read each piece of a step's output, as a second
// stream beside the log (`?timestamps=1`); the log itself stays exactly the output.
let cluster: Cluster;
let proxy: TcpProxy;
let browser: Browser | undefined;
let pausedRun: string;

const PAUSED = `tasks:
  build:
    steps:
      - run: echo a; sleep 1; echo b
`;

beforeAll(async () => {
  // leases long enough for the agent to come back after the proxy cuts its connection
  cluster = await startCluster({ DROVER_LEASE_TTL_MS: "10000", DROVER_RECONNECT_GRACE_MS: "10000" });
  proxy = startTcpProxy(Number(new URL(cluster.coordinator.url).port));
  await cluster.startAgent("stamps-1", [], `http://127.0.0.1:${proxy.port}`);
  pausedRun = await cluster.submit(PAUSED);
  await cluster.waitRun(pausedRun);
  if (haveChromium) browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close().catch(() => {});
  proxy?.stop();
  await cluster?.stop();
});

async function stampsOf(run: string, query = "timestamps=1"): Promise<{ status: number; text: string }> {
  const res = await fetch(`${cluster.coordinator.url}/api/v1/runs/${run}/tasks/build/steps/0/log?${query}`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return { status: res.status, text: await res.text() };
}

/** The records, checked for shape: `offset ms` lines, offsets rising, times not falling. */
function records(text: string): [number, number][] {
  expect(text).toMatch(/^(\d+ \d+\n)+$/);
  const list = text.trimEnd().split("\n").map((l) => l.split(" ").map(Number) as [number, number]);
  for (let i = 1; i < list.length; i++) {
    expect(list[i]![0]).toBeGreaterThan(list[i - 1]![0]);
    expect(list[i]![1]).toBeGreaterThanOrEqual(list[i - 1]![1]);
  }
  return list;
}

/** When the line starting at byte `start` began: the last record at or before it. */
const timeAt = (list: [number, number][], start: number) => list.filter(([offset]) => offset <= start).at(-1)?.[1];

describe("line timestamps", () => {
  test("a line printed a second later is stamped a second later; the log is the output, byte for byte", async () => {
    expect(await cluster.log(pausedRun, "build", 0)).toBe("a\nb\n");
    const { status, text } = await stampsOf(pausedRun);
    expect(status).toBe(200);
    const list = records(text);
    expect(list[0]![0]).toBe(0);
    const a = timeAt(list, 0)!;
    const b = timeAt(list, 2)!;
    expect(b - a).toBeGreaterThanOrEqual(900);
    expect(b - a).toBeLessThan(5000);
    const run = (await cluster.api<{ createdAt: number }>("GET", `/api/v1/runs/${pausedRun}`)).body;
    expect(a).toBeGreaterThanOrEqual(run.createdAt);
  });

  test("a bad timestamps parameter is a 400 naming it", async () => {
    const { status, text } = await stampsOf(pausedRun, "timestamps=yes");
    expect(status).toBe(400);
    expect(text).toContain("timestamps");
  });

  test("a step that printed nothing has an empty log and no timestamps", async () => {
    const id = await cluster.submit("tasks:\n  build:\n    steps:\n      - run: 'true'\n");
    expect((await cluster.waitRun(id)).result).toBe("success");
    expect(await cluster.log(id, "build", 0)).toBe("");
    expect(await stampsOf(id)).toEqual({ status: 200, text: "" });
  });

  test("timestamps survive the agent's connection being cut mid-step, like the log", async () => {
    const script = "for i in $(seq 1 30); do echo line $i; sleep 0.05; done";
    const id = await cluster.submit(`tasks:\n  build:\n    steps:\n      - run: '${script}'\n`);
    let cuts = 0;
    for (let i = 0; i < 3; i++) {
      await Bun.sleep(400);
      cuts += proxy.cut();
    }
    expect(cuts).toBeGreaterThanOrEqual(2);
    const run = await cluster.waitRun(id, 30_000);
    expect(run.result).toBe("success");
    const log = await cluster.log(id, "build", 0);
    expect(log).toBe(Bun.spawnSync(["bash", "-c", script]).stdout.toString());
    const list = records((await stampsOf(id)).text);
    // every line has a time, and they span the ~1.5 s the step printed for
    const starts = [0, ...[...log.matchAll(/\n/g)].map((m) => m.index! + 1)].slice(0, -1);
    const times = starts.map((s) => timeAt(list, s));
    expect(times.every((t) => t !== undefined)).toBe(true);
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(1000);
  });
});

describe.skipIf(!haveChromium)("the log page's timestamps", () => {
  test("a toggle shows each line's time, and is remembered", async () => {
    const page = await adminPage(browser!, cluster.coordinator.url);
    const url = `${cluster.coordinator.url}/runs/${pausedRun}/tasks/build/steps/0`;
    await page.goto(url);
    await page.locator("#log-state", { hasText: "End of log." }).waitFor();
    expect(await page.locator("#L1 .ts").isVisible()).toBe(false);
    await page.check("#log-timestamps");
    await page.locator("#L2 .ts[data-ms]").waitFor();
    expect(await page.locator("#L1 .ts").isVisible()).toBe(true);
    const ms = async (n: number) => Number(await page.locator(`#L${n} .ts`).getAttribute("data-ms"));
    expect((await ms(2)) - (await ms(1))).toBeGreaterThanOrEqual(900);
    expect(await page.locator("#L1 .ts").textContent()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    // the line's text is untouched
    expect(await page.locator("#L1 .lt").textContent()).toBe("a");
    await page.goto(url);
    await page.locator("#L2 .ts[data-ms]").waitFor();
    expect(await page.isChecked("#log-timestamps")).toBe(true);
    await page.uncheck("#log-timestamps");
    expect(await page.locator("#L1 .ts").isVisible()).toBe(false);
    await page.context().close();
  });
});
