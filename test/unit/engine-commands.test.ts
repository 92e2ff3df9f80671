import { describe, expect, test } from "bun:test";
import { admitted, approve, rerun, restart } from "../../coordinator/engine/commands.ts";
import type { TaskStatus } from "../../shared/states.ts";

const t = (name: string, status: TaskStatus, depends: string[] = [], approvers: string[] = []) => ({
  name,
  status,
  approvers,
  depends: depends.map((task) => ({ task })),
});

describe("engine commands", () => {
  test("approve: only a waiting task, once per user", () => {
    expect(approve(t("d", "waiting_approval", [], ["ann"]), "d", "bob")).toEqual({ ok: true, value: ["ann", "bob"] });
    expect(approve(t("d", "waiting_approval", [], ["ann"]), "d", "ann")).toMatchObject({ ok: false, refusal: "conflict" });
    expect(approve(t("d", "running"), "d", "bob")).toMatchObject({ ok: false, refusal: "conflict" });
    expect(approve(undefined, "nope", "bob")).toMatchObject({ ok: false, refusal: "not_found", message: "task nope not found" });
  });

  test("rerun: the task and its dependants that did not succeed; an ended run runs again; an unknown or unfinished task is refused", () => {
    const tasks = [t("a", "failed"), t("b", "skipped", ["a"]), t("c", "success", ["a"]), t("d", "skipped", ["b"]), t("e", "success")];
    const ended = { phase: "finished" as const };
    expect(rerun(ended, tasks, "a")).toEqual({ ok: true, value: { tasks: ["a", "b", "d"], run: { phase: "running", result: "unknown" } } });
    expect(rerun({ phase: "running" }, tasks, "e")).toEqual({ ok: true, value: { tasks: ["e"], run: null } });
    expect(rerun(ended, tasks, "nope")).toMatchObject({ ok: false, refusal: "not_found" });
    expect(rerun(ended, [t("a", "running")], "a")).toMatchObject({ ok: false, refusal: "conflict" });
  });

  test("restart: only an ended run; from failed, the tasks that succeeded are kept", () => {
    const tasks = [t("a", "success"), t("b", "failed")];
    expect(restart({ id: "r", phase: "finished" }, tasks, "failed")).toEqual({ ok: true, value: ["a"] });
    expect(restart({ id: "r", phase: "finished" }, tasks, "scratch")).toEqual({ ok: true, value: [] });
    expect(restart({ id: "r", phase: "running" }, tasks, "scratch")).toMatchObject({ ok: false, refusal: "conflict" });
  });

  test("group admission: FIFO by run id within the limit; a cancelled run needs no slot", () => {
    const run = (id: string, phase: "queued" | "running") => ({ id, group: "g", phase });
    const others = [run("1", "running"), run("2", "queued"), run("3", "queued")];
    expect(admitted({ ...run("3", "queued"), cancelRequested: false }, others, 2)).toBe(false);
    expect(admitted({ ...run("2", "queued"), cancelRequested: false }, others, 2)).toBe(true);
    expect(admitted({ ...run("2", "queued"), cancelRequested: false }, others, 1)).toBe(false);
    expect(admitted({ ...run("3", "queued"), cancelRequested: true }, others, 1)).toBe(true);
    expect(admitted({ ...run("3", "queued"), cancelRequested: false }, others, undefined)).toBe(true);
  });
});
