import { afterEach, expect, spyOn, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { type InProcess, startInProcess } from "../helpers/in-process.ts";

// A real full disk: the coordinator's data dir on a 50 MB tmpfs, which only root can mount.
const root = process.getuid?.() === 0;
const mounts: string[] = [];
let h: InProcess | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
  for (const dir of mounts.splice(0)) spawnSync("umount", ["-l", dir]);
});

function mountTmpfs(dir: string, size: string): void {
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  if (r.status !== 0) throw new Error(`mount tmpfs: ${r.stderr}`);
  mounts.push(dir);
}

test.skipIf(!root)(
  "a step printing 80 MB into a 50 MB data dir fails its attempt saying so; nothing unwritten is acked; cancel and later runs work",
  async () => {
    const errors: string[] = [];
    const spy = spyOn(console, "error").mockImplementation((...args: unknown[]) => void errors.push(args.join(" ")));
    try {
      h = await startInProcess({}, { beforeStart: (dataDir) => mountTmpfs(dataDir, "50m") });
      const agent = await h.agent("a1", { capacity: 2 });
      h.cleanups.push(() => spawnSync("umount", ["-l", `${h!.dir}/data`]));
      const id = await h.submit("tasks:\n  big:\n    steps: [ { run: bytes 80000000 } ]\n");
      expect(await h.waitPhase(id, ["finished"], 60_000)).toBe("finished");
      const run = await h.run<{ result: string; tasks: { attempts: { state: string; error: string | null }[] }[] }>(id);
      expect(run.result).toBe("failed");
      const [attempt] = run.tasks[0]!.attempts;
      expect(attempt?.state).toBe("failed");
      expect(attempt?.error).toContain("coordinator out of disk space");
      // no acknowledgement past what a 50 MB disk can hold
      const acked = Math.max(0, ...agent.acked.values());
      expect(acked).toBeLessThan(50 * 1024 * 1024);
      const metrics = await (await h.coordinator.app.request("/metrics")).text();
      expect(metrics).toMatch(/drover_disk_full_total\{what="log"\} 1/);
      expect(errors.join("\n")).toContain("coordinator out of disk space");
      // the space came back with the log given up: a new run works, and so does cancel
      const ok = await h.submit("tasks:\n  t:\n    steps: [ { run: echo ok } ]\n");
      expect(await h.waitPhase(ok, ["finished"])).toBe("finished");
      expect((await h.run(ok)).result).toBe("success");
      const held = await h.submit("tasks:\n  t:\n    steps: [ { run: hold } ]\n");
      await h.waitPhase(held, ["running"]);
      expect((await h.api("POST", `/api/v1/runs/${held}/cancel`)).status).toBe(202);
      expect(await h.waitPhase(held, ["cancelled"])).toBe("cancelled");
    } finally {
      spy.mockRestore();
    }
  },
  90_000,
);
