import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { signalMembers } from "../../agent/executor/cgroups.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const dirs = scratchDirs("drover-cgroup-signals-");

test("a signal to a step's groups reaches each process once, however many hierarchies list it", () => {
  const root = dirs.fresh("groups");
  // the step's group in v2 and in v1's memory and pids hierarchies, as cgroup.procs lists them
  const listed: Record<string, number[]> = { unified: [101, 102, 103], memory: [101, 102, 103], pids: [101, 102, 103, 104] };
  const groups = Object.entries(listed).map(([name, pids]) => {
    const dir = join(root, name, "drover-step");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "cgroup.procs"), `${pids.join("\n")}\n`);
    return dir;
  });
  const sent: [number, string][] = [];
  signalMembers(groups, "SIGTERM", (pid, sig) => {
    sent.push([pid, sig]);
    // a process gone meanwhile stops no other's signal
    if (pid === 102) throw Object.assign(new Error("kill ESRCH"), { code: "ESRCH" });
  });
  expect(sent.sort()).toEqual([
    [101, "SIGTERM"],
    [102, "SIGTERM"],
    [103, "SIGTERM"],
    [104, "SIGTERM"],
  ]);
});
