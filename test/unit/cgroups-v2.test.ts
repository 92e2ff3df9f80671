import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Cgroups, killGroup, members, removeGroup } from "../../agent/executor/cgroups.ts";
import { liveProcesses, waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";

// The cgroup v2 code of the host executor (agent/executor/cgroups.ts). This machine mounts cgroup v1 for every
// controller, with a cgroup2 hierarchy beside them (hybrid) that has none of them: `mount -t cgroup2` works as root
// but mounts that same hierarchy (only hugetlb), as memory and pids stay bound to v1 while v1 groups exist. So a
// real v2 group here can hold and kill a tree (cgroup.kill), which the second test shows, but has no memory.max or
// pids.max. The first test runs the v2 logic against a plain directory tree shaped like a cgroup2 mount: it shows
// the files the agent writes and reads, under their v2 names and in their formats, not that a kernel enforces them.

const dirs = scratchDirs("drover-cgroup2-");
const read = (path: string) => readFileSync(path, "utf8");

test("v2 logic against a directory shaped like cgroup2: the agent's subtree under its own group, caps in memory.max, memory.swap.max and pids.max, oom_kill read from memory.events", async () => {
  const root = dirs.fresh("tree");
  const mount = join(root, "cgroup2");
  const own = join(mount, "system.slice", "drover-agent.service");
  // what the kernel would show: the agent's own group, delegated, and the files it makes in every new group
  const base = join(own, "drover-t1");
  mkdirSync(base, { recursive: true });
  for (const dir of [mount, own, base]) {
    writeFileSync(join(dir, "cgroup.controllers"), "memory pids\n");
    writeFileSync(join(dir, "cgroup.subtree_control"), "");
    writeFileSync(join(dir, "cgroup.procs"), "");
    writeFileSync(join(dir, "cgroup.kill"), "");
  }
  const proc = dirs.fresh("proc");
  writeFileSync(join(proc, "cgroup"), "0::/system.slice/drover-agent.service\n");
  writeFileSync(
    join(proc, "mountinfo"),
    [
      "25 30 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
      `35 30 0:30 / ${mount} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`,
    ].join("\n"),
  );

  const cgroups = Cgroups.detect("drover-t1", proc);
  expect(cgroups.available).toBe(true);
  expect(cgroups.bases).toEqual([base]);
  // the controllers handed down to the steps' groups
  expect(read(join(own, "cgroup.subtree_control"))).toBe("+memory +pids");
  expect(read(join(base, "cgroup.subtree_control"))).toBe("+memory +pids");

  const groups = cgroups.create("att1-0", { memoryBytes: 512 * 1024 ** 2, pids: 100 });
  const dir = join(base, "att1-0");
  expect(groups).toEqual({ procsFiles: [join(dir, "cgroup.procs")], dirs: [dir], memory: "cgroup", pids: "cgroup" });
  expect(read(join(dir, "memory.max"))).toBe(String(512 * 1024 ** 2));
  expect(read(join(dir, "memory.swap.max"))).toBe("0");
  expect(read(join(dir, "pids.max"))).toBe("100");
  // no v1 file names in a v2 group
  expect(existsSync(join(dir, "memory.limit_in_bytes"))).toBe(false);

  // memory.events as the kernel writes it: an OOM kill counted, and none
  writeFileSync(join(dir, "memory.events"), "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
  expect(Cgroups.oomKilled(groups)).toBe(true);
  writeFileSync(join(dir, "memory.events"), "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\noom_group_kill 0\n");
  expect(Cgroups.oomKilled(groups)).toBe(false);

  // killing: "1" into cgroup.kill, and every listed member signalled (a real process here)
  const victim = Bun.spawn(["sleep", "300"]);
  writeFileSync(join(dir, "cgroup.kill"), "");
  writeFileSync(join(dir, "cgroup.procs"), `${victim.pid}\n`);
  expect(members(dir)).toEqual([victim.pid]);
  killGroup(dir);
  expect(read(join(dir, "cgroup.kill"))).toBe("1");
  expect(await victim.exited).toBe(137);
});

test.skipIf(process.getuid?.() !== 0)(
  "on this machine's real cgroup2 hierarchy, a group holds a setsid'd and a double-forked process and cgroup.kill ends them all",
  async () => {
    const cgroups = Cgroups.detect(`drover-unit-${process.pid}`);
    // the v2 hierarchy is one of them: its group has cgroup.kill
    const v2 = cgroups.bases.find((b) => existsSync(join(b, "cgroup.kill")) && !existsSync(join(b, "tasks")));
    expect(v2).toBeDefined();
    const groups = cgroups.create("tree", { memoryBytes: null, pids: null });
    const dir = groups.dirs.find((d) => d.startsWith(v2!))!;
    const tag = `cg2unit${Date.now()}`;
    const started = Bun.spawn([
      "sh",
      "-c",
      `for f in "$@"; do echo $$ > "$f"; done; setsid sh -c 'sleep 300' ${tag}-setsid & (sh -c 'sleep 300' ${tag}-forked &) & wait`,
      "sh",
      ...groups.procsFiles,
    ]);
    await waitFor("the tree in the group", () => (liveProcesses(`${tag}-`) >= 2 && members(dir).length >= 4 ? true : undefined), 10_000);
    // the kernel's own kill of the whole group, nothing signalled one by one
    writeFileSync(join(dir, "cgroup.kill"), "1");
    await waitFor("the group to empty", () => members(dir).length === 0, 5_000);
    expect(liveProcesses(`${tag}-`)).toBe(0);
    await started.exited;
    for (const d of groups.dirs) removeGroup(d);
    expect(groups.dirs.filter((d) => existsSync(d))).toEqual([]);
    // the agent's own subtree goes at its exit
    cgroups.release();
    expect(cgroups.bases.filter((b) => existsSync(b))).toEqual([]);
  },
);

test("beside a v2 hierarchy that holds and kills the tree, no v1 freezer group repeats it; without one the freezer holds it", () => {
  const root = dirs.fresh("hybrid");
  const mount = (name: string) => join(root, name);
  // a v2 group with cgroup.kill once made: the subtree made ahead, as the kernel would show it
  mkdirSync(join(mount("unified"), "drover-t2"), { recursive: true });
  writeFileSync(join(mount("unified"), "drover-t2", "cgroup.kill"), "");
  for (const name of ["freezer", "pids"]) mkdirSync(mount(name), { recursive: true });
  const proc = dirs.fresh("proc-hybrid");
  writeFileSync(join(proc, "cgroup"), "7:freezer:/\n5:pids:/\n0::/\n");
  const v1 = [
    `31 30 0:27 / ${mount("freezer")} rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,freezer`,
    `32 30 0:28 / ${mount("pids")} rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,pids`,
  ];
  const v2 = `33 30 0:29 / ${mount("unified")} rw,nosuid,nodev,noexec,relatime shared:12 - cgroup2 cgroup2 rw`;

  writeFileSync(join(proc, "mountinfo"), [...v1, v2].join("\n"));
  expect(Cgroups.detect("drover-t2", proc).bases).toEqual([join(mount("unified"), "drover-t2"), join(mount("pids"), "drover-t2")]);
  expect(existsSync(join(mount("freezer"), "drover-t2"))).toBe(false);

  writeFileSync(join(proc, "mountinfo"), v1.join("\n"));
  expect(Cgroups.detect("drover-t3", proc).bases).toEqual([join(mount("freezer"), "drover-t3"), join(mount("pids"), "drover-t3")]);
});
