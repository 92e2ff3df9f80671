import { afterEach, describe, expect, test } from "bun:test";
import { projects, runGroups, runs } from "../../coordinator/db/schema.ts";
import { createRun } from "../../coordinator/runs/create-run.ts";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";
import { waitFor } from "../helpers/processes.ts";

/**
 * Runs submitted at the same moment are written together (create-run.ts, a group commit): each must still be
 * stored and started as if it came alone, and one the database refuses must take none of the others with it.
 */
let h: InProcess;
afterEach(() => h?.stop());

const TWO = "tasks:\n  build:\n    steps: [ { run: hold } ]\n  test:\n    depends: [build]\n    steps: [ { run: hold } ]\n";

type Listed = { id: string; phase: string; group: string; number: number | null };
const listed = async (group: string) => (await h.api<{ runs: Listed[] }>("GET", `/api/v1/runs?group=${group}&limit=1000`)).body.runs;

describe("runs submitted together", () => {
  test("forty at once are each answered with its own stored run, started with its first task queued", async () => {
    h = await startInProcess();
    const ids = await Promise.all(Array.from({ length: 40 }, () => h.submit(TWO, "burst")));
    expect(new Set(ids).size).toBe(40);
    const rows = await listed("burst");
    expect(rows.map((r) => r.id).toSorted()).toEqual(ids.toSorted());
    expect(rows.every((r) => r.phase === "running")).toBe(true);
    for (const id of ids.slice(0, 5)) {
      const run = await h.run<{ tasks: { name: string; status: string; attempts: { state: string }[] }[] }>(id);
      expect(run.tasks.map((t) => [t.name, t.status, t.attempts.map((a) => a.state)])).toEqual([
        ["build", "running", ["queued"]],
        ["test", "notstarted", []],
      ]);
    }
  });

  test("a group's concurrency limit admits as many as it allows when they arrive at once", async () => {
    h = await startInProcess();
    expect((await h.api("PUT", "/api/v1/groups/two-at-a-time", { concurrency: 2 })).status).toBe(200);
    await Promise.all(Array.from({ length: 6 }, () => h.submit(TWO, "two-at-a-time")));
    const phases = (await listed("two-at-a-time")).map((r) => r.phase).toSorted();
    expect(phases).toEqual(["queued", "queued", "queued", "queued", "running", "running"]);
  });

  test("a limit another node stored, not yet read here, holds for runs started as they are written", async () => {
    h = await startInProcess();
    // as another node's PUT leaves it: in the database, not in this node's memory until it polls
    await h.coordinator.services.db.insert(runGroups).values({ name: "set-elsewhere", concurrency: 1 });
    const ids = await Promise.all(Array.from({ length: 3 }, () => h.submit(TWO, "set-elsewhere")));
    const phases = async () => new Map((await listed("set-elsewhere")).map((r) => [r.id, r.phase]));
    const first = await phases();
    expect([...first.values()].toSorted()).toEqual(["queued", "queued", "running"]);
    // the one running ends (cancelled): the oldest waiting one starts
    const running = ids.find((id) => first.get(id) === "running")!;
    expect((await h.api("POST", `/api/v1/runs/${running}/cancel`)).status).toBe(202);
    const waiting = ids.filter((id) => id !== running).toSorted();
    await waitFor("the next run to start", async () => (await phases()).get(waiting[0]!) === "running", 10_000, 50);
    expect((await phases()).get(waiting[1]!)).toBe("queued");
  });

  test("a run the database refuses refuses none of those written with it; a project's runs get consecutive numbers", async () => {
    h = await startInProcess();
    const { db, scheduler } = h.coordinator.services;
    const project = { id: "p1", name: "web" };
    await db.insert(projects).values({
      ...project,
      repoUrl: "https://example.invalid/web.git",
      forge: "git",
      defaultBranch: "main",
      pipelinePath: ".drover.yml",
      forkApproval: false,
      hookSecret: "x",
      user: "admin",
      createdAt: Date.now(),
    });
    const submit = (group: string, p: typeof project | null = null) => createRun(db, scheduler, { pipeline: TWO, group, user: "admin", project: p });
    const first = await Promise.all([submit("numbered", project), submit("numbered", project), submit("numbered", project)]);
    expect(first.map((r) => r.number)).toEqual([1, 2, 3]);
    // a counter behind the runs' numbers: the next project run collides with number 4, already taken
    await db.insert(runs).values({ ...first[0]!, id: "taken", number: 4 });
    const outcomes = await Promise.allSettled([submit("plain"), submit("numbered", project), submit("plain"), submit("plain")]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toContain("UNIQUE");
    const plain = await listed("plain");
    expect(plain.map((r) => r.phase)).toEqual(["running", "running", "running"]);
  });
});
