import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { artifacts } from "../../coordinator/db/schema.ts";
import { ADMIN_TOKEN, type InProcess, startInProcess } from "../helpers/in-process.ts";

let h: InProcess;
beforeAll(async () => {
  h = await startInProcess();
  await h.agent("a1");
});
afterAll(() => h.stop());

const login = (next: string) =>
  h.coordinator.app.request("/login", {
    method: "POST",
    headers: { origin: "http://localhost", "sec-fetch-site": "same-origin", "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: ADMIN_TOKEN, next }),
  });

describe("login", () => {
  test("next= never leads off the site", async () => {
    for (const next of ["/\\evil.example", "//evil.example", "/\\/evil.example", "/%5Cevil.example", "https://evil.example", "/\t/evil.example"]) {
      const location = (await login(next)).headers.get("location") ?? "";
      const resolved = new URL(location, "http://localhost");
      expect({ next, origin: resolved.origin }).toEqual({ next, origin: "http://localhost" });
    }
    expect((await login("/runs?group=x")).headers.get("location")).toBe("/runs?group=x");
  });
});

describe("pages", () => {
  test("no page carries the bearer token; the page's API calls use the login cookie, from this origin only", async () => {
    const cookie = `drover_token=${ADMIN_TOKEN}`;
    const page = await h.coordinator.app.request("/", { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).not.toContain(ADMIN_TOKEN);
    const fromPage = await h.coordinator.app.request("/api/v1/runs", { headers: { cookie, "sec-fetch-site": "same-origin" } });
    expect(fromPage.status).toBe(200);
    const crossSite = await h.coordinator.app.request("/api/v1/runs", { headers: { cookie, "sec-fetch-site": "same-site" } });
    expect(crossSite.status).toBe(401);
  });
});

describe("artifacts", () => {
  test("artifact URLs are percent-encoded and lead to the artifact", async () => {
    const id = await h.submit("tasks:\n  t:\n    steps: [ { run: echo ok } ]\n");
    await h.waitPhase(id, ["finished"]);
    const { db, store } = h.coordinator.services;
    const odd = "out/a #1?x=%41.txt";
    const put = await store.put("artifacts/test/odd", new TextEncoder().encode("payload"));
    await db.insert(artifacts).values({ runId: id, task: "t", attemptId: "x", path: odd, object: "artifacts/test/odd", size: put.size, sha256: put.sha256, createdAt: Date.now() });
    const list = await h.api<{ artifacts: { path: string; url: string }[] }>("GET", `/api/v1/runs/${id}/artifacts`);
    const [listed] = list.body.artifacts;
    expect(listed?.path).toBe(odd);
    expect(listed?.url).not.toContain("#");
    const res = await h.api("GET", listed!.url);
    expect(res.status).toBe(200);
    expect(res.body).toBe("payload");
  });
});
