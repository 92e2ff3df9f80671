import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";

let h: InProcess;
beforeAll(async () => {
  h = await startInProcess();
  await h.agent("a1", { capacity: 4 });
});
afterAll(() => h.stop());

type Err = { error: { code: string; message: string; details?: { errors: string[] } } };
const errorText = (body: Err) => [body.error.message, ...(body.error.details?.errors ?? [])].join("\n");
const tasks = (n: number) => `tasks:\n${Array.from({ length: n }, (_, i) => `  t${i}:\n    steps: [ { run: "true" } ]\n`).join("")}`;

describe("input bounds", () => {
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
      [{ pipeline: tasks(1), variables: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`V${i}`, "x"])) }, "at most 200 variables"],
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
