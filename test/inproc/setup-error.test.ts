import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, type InProcess, startInProcess } from "../helpers/in-process.ts";

let h: InProcess;
afterEach(() => h?.stop());

type View = { phase: string; result: string; error: string | null; workspace: string | null; tasks: { name: string; status: string; attempts: unknown[] }[] };

/** A run submitted with an uploaded workspace archive, as `drover run` sends it. */
async function submitWithWorkspace(pipeline: string): Promise<string> {
  const form = new FormData();
  form.set("pipeline", pipeline);
  form.set("group", "test");
  form.set("workspace", new File([Bun.gzipSync(new Uint8Array(1024))], "workspace.tar.gz"));
  const res = await h.coordinator.app.request("/api/v1/runs", { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: form });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const restart = async (id: string) => {
  const res = await h.api<{ id: string }>("POST", `/api/v1/runs/${id}/restart`, { from: "scratch" });
  expect(res.status).toBe(201);
  return res.body.id;
};

test("a run restarted after the store lost its uploaded workspace ends in setuperror with result error, saying which object; nothing is sent to an agent", async () => {
  h = await startInProcess();
  const agent = await h.agent("a1", { capacity: 2 });
  const pipeline = "tasks:\n  a:\n    steps: [ { run: echo a } ]\n  b:\n    depends: [a]\n    steps: [ { run: echo b } ]\n";
  const id = await submitWithWorkspace(pipeline);
  expect(await h.waitPhase(id, ["finished"])).toBe("finished");
  const { workspace } = await h.run<View>(id);
  expect(workspace).toMatch(/^uploads\//);

  // while the archive is there, a restart runs as usual
  const whole = await restart(id);
  expect(await h.waitPhase(whole, ["finished", "setuperror"])).toBe("finished");
  expect((await h.run<View>(whole)).result).toBe("success");
  const assignsBefore = agent.received.filter((m) => m.type === "assign").length;

  rmSync(join(h.dir, "data", "objects", workspace!));
  const broken = await restart(id);
  expect(await h.waitPhase(broken, ["finished", "setuperror"])).toBe("setuperror");
  const view = await h.run<View>(broken);
  expect(view.result).toBe("error");
  expect(view.error).toBe(`cannot be set up: the object store no longer has ${workspace} (of run ${id})`);
  expect(view.tasks.map((t) => [t.name, t.status, t.attempts.length])).toEqual([
    ["a", "cancelled", 0],
    ["b", "cancelled", 0],
  ]);
  expect(agent.received.filter((m) => m.type === "assign").length).toBe(assignsBefore);
  // the state survives a restart of the coordinator
  await h.restart();
  expect((await h.run<View>(broken)).phase).toBe("setuperror");
});

test("a run that cannot be set up needs no slot of its group: it ends at once behind a full concurrency limit", async () => {
  h = await startInProcess();
  await h.agent("a1", { capacity: 4 });
  const id = await submitWithWorkspace("tasks:\n  t:\n    steps: [ { run: echo hi } ]\n");
  expect(await h.waitPhase(id, ["finished"])).toBe("finished");
  const { workspace } = await h.run<View>(id);
  expect((await h.api("PUT", "/api/v1/groups/test", { concurrency: 1 })).status).toBe(200);
  const holder = await h.submit("tasks:\n  t:\n    steps: [ { run: hold } ]\n");
  await h.waitPhase(holder, ["running"]);
  rmSync(join(h.dir, "data", "objects", workspace!));
  const broken = await restart(id);
  expect((await h.run<View>(broken)).phase).toBe("setuperror");
  expect((await h.run<View>(holder)).phase).toBe("running");
});
