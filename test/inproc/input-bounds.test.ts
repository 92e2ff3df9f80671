import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, type InProcess, startInProcess } from "../helpers/in-process.ts";

let h: InProcess;
beforeAll(async () => {
  h = await startInProcess();
  await h.agent("a1", { capacity: 4 });
});
afterAll(() => h.stop());

type Err = { error: { code: string; message: string; details?: { errors: string[] } } };
const errorText = (body: Err) => [body.error.message, ...(body.error.details?.errors ?? [])].join("\n");
const tasks = (n: number) =>
  `tasks:\n${Array.from({ length: n }, (_, i) => `  t${i}:\n    steps: [ { run: "true" } ]\n`).join("")}`;

describe("input bounds", () => {
  test("a JSON body past its route's bound is a 413 naming it, declared or sent chunked, and no more of it is read", async () => {
    const MiB = 1024 * 1024;
    /** A body of `mib` MiB of a JSON string, sent without a length; how much of it the server took. */
    const chunked = (path: string, mib: number, headers: Record<string, string> = {}) => {
      let pulled = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulled >= mib) return controller.close();
          controller.enqueue(new TextEncoder().encode(pulled === 0 ? `{"v":"${"x".repeat(MiB - 6)}` : "x".repeat(MiB)));
          pulled++;
        },
      });
      const res = Promise.resolve(
        h.coordinator.app.request(path, {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", ...headers },
          body,
        }),
      );
      return res.then(async (r) => ({ status: r.status, body: (await r.json()) as Err, pulled }));
    };
    for (const [path, bound] of [
      ["/api/v1/tokens", "1.0 MiB"],
      ["/api/v1/schedules", "16.0 MiB"],
      ["/api/v1/hooks", "16.0 MiB"],
    ] as const) {
      const declared = await h.api<Err>("POST", path, JSON.stringify({ v: "x".repeat(17 * MiB) }));
      expect(declared.status, path).toBe(413);
      expect(declared.body.error.message).toBe(`this request's JSON body may be at most ${bound}`);
      const sent = await chunked(path, 64);
      expect(sent.status, path).toBe(413);
      expect(sent.body.error.message).toBe(`this request's JSON body may be at most ${bound}`);
      // read up to the bound and a piece or two past it (the stream pulls ahead), not the rest
      expect(sent.pulled).toBeLessThan(Number.parseInt(bound) + 4);
    }
    const login = await h.coordinator.app.request("/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://localhost" },
      body: `token=${"x".repeat(MiB)}`,
    });
    expect(login.status).toBe(413);
    expect(((await login.json()) as Err).error.message).toBe("a login form may be at most 64 KiB");
  });

  test("a pipeline over 1 MiB is a 413 naming the bound", async () => {
    const pipeline = `${tasks(1)}# ${"x".repeat(2 * 1024 * 1024)}\n`;
    const res = await h.api<Err>("POST", "/api/v1/runs", { pipeline });
    expect(res.status).toBe(413);
    expect(res.body.error.message).toContain("1 MiB");
  });

  test("a JSON submission far past any bound is refused before it is parsed", async () => {
    const res = await h.api<Err>("POST", "/api/v1/runs", JSON.stringify({ pipeline: "x".repeat(20 * 1024 * 1024) }));
    expect(res.status).toBe(413);
  });

  test("1,001 tasks, or 2,048 after matrix expansion, are a 400 naming 1,000", async () => {
    const many = await h.api<Err>("POST", "/api/v1/runs", { pipeline: tasks(1001) });
    expect(many.status).toBe(400);
    expect(errorText(many.body)).toContain("1,000");
    const values = Array.from({ length: 16 }, (_, i) => i + 1).join(",");
    const matrix = `tasks:\n${Array.from({ length: 8 }, (_, i) => `  m${i}:\n    matrix: { a: [${values}], b: [${values}] }\n    steps: [ { run: "true" } ]\n`).join("")}`;
    const expanded = await h.api<Err>("POST", "/api/v1/runs", { pipeline: matrix });
    expect(expanded.status).toBe(400);
    expect(errorText(expanded.body)).toContain("2,048 tasks after matrix expansion");
  });

  test("1,000 tasks (the bound itself) are accepted and stored", async () => {
    const started = performance.now();
    const res = await h.api<{ id: string }>("POST", "/api/v1/runs", { pipeline: tasks(1000) });
    expect(res.status).toBe(201);
    expect((await h.run(res.body.id)).tasks.length).toBe(1000);
    console.log(`1,000 tasks submitted and read back in ${Math.round(performance.now() - started)} ms`);
    expect((await h.api("POST", `/api/v1/runs/${res.body.id}/cancel`)).status).toBe(202);
    await h.waitPhase(res.body.id, ["cancelled"], 30_000);
  });

  test("steps per task, labels, variables and names are bounded with a 400 naming the bound", async () => {
    const steps = `tasks:\n  t:\n    steps:\n${"      - run: 'true'\n".repeat(201)}`;
    const cases: [unknown, string][] = [
      [{ pipeline: steps }, "at most 200 steps"],
      [{ pipeline: `tasks:\n  ${"n".repeat(129)}:\n    steps: [ { run: "true" } ]\n` }, "at most 128 characters"],
      [
        { pipeline: tasks(1), variables: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`V${i}`, "x"])) },
        "at most 200 variables",
      ],
      [{ pipeline: tasks(1), variables: { BIG: "x".repeat(65 * 1024) } }, "65,536"],
      [{ pipeline: `tasks:\n  t:\n    labels: { k: ${"v".repeat(513)} }\n    steps: [ { run: "true" } ]\n` }, "at most 512"],
    ];
    for (const [body, bound] of cases) {
      const res = await h.api<Err>("POST", "/api/v1/runs", body);
      expect(res.status).toBe(400);
      expect(errorText(res.body)).toContain(bound);
    }
  });
});

describe("the log route's input", () => {
  test("?attempt=abc is a 400, a step that does not exist a 404, steps/0x1 a 400", async () => {
    const id = await h.submit("tasks:\n  t:\n    steps: [ { run: echo ok } ]\n");
    await h.waitPhase(id, ["finished"]);
    const log = (path: string) => h.api<Err | string>("GET", `/api/v1/runs/${id}/tasks/t/${path}`);
    expect((await log("steps/0/log")).body).toBe("ok\n");
    expect((await log("steps/0/log?attempt=1")).status).toBe(200);
    expect((await log("steps/0/log?attempt=abc")).status).toBe(400);
    expect((await log("steps/0/log?attempt=2")).status).toBe(404);
    expect((await log("steps/7/log")).status).toBe(404);
    expect((await log("steps/0x1/log")).status).toBe(400);
    expect((await log("steps/-1/log")).status).toBe(400);
  });

  test("?offset=N starts at byte N (a follower resuming); a negative or non-numeric offset is a 400 naming it", async () => {
    const id = await h.submit("tasks:\n  t:\n    steps: [ { run: echo hello world } ]\n");
    await h.waitPhase(id, ["finished"]);
    const log = (query: string) => h.api<Err | string>("GET", `/api/v1/runs/${id}/tasks/t/steps/0/log${query}`);
    const whole = (await log("")).body as string;
    expect(whole).toContain("hello world");
    expect((await log("?offset=6")).body).toBe(whole.slice(6));
    expect((await log("?offset=0&follow=1")).body).toBe(whole);
    expect((await log(`?offset=${whole.length}`)).body).toBe("");
    expect((await log("?offset=99")).body).toBe("");
    for (const bad of ["-1", "abc", "1e3"]) {
      const res = await log(`?offset=${bad}`);
      expect(res.status).toBe(400);
      expect(errorText(res.body as Err)).toContain("offset is a byte offset");
    }
  });
});
