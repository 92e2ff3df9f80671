import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A mounted hierarchy the agent may make groups in: cgroup v2, or one v1 controller. */
interface Hierarchy {
  version: 2 | 1;
  /** v1: the controller it carries (pids, memory, freezer) */
  controller: string;
  /** where the agent's own group of this hierarchy is, with the agent's subtree made under it */
  base: string;
}

/** One step's groups, one per hierarchy: every process the step starts stays in them, whatever it does. */
export interface StepGroups {
  /** the `cgroup.procs` files a step's first process writes its pid into before it runs anything */
  procsFiles: string[];
  /** the directories, as recorded on disk for the watchdog and the agent's next start */
  dirs: string[];
  memory: "cgroup" | null;
  pids: "cgroup" | null;
}

/** A group's member processes (v1 and v2 both list them in `cgroup.procs`). */
export function members(dir: string): number[] {
  try {
    return readFileSync(join(dir, "cgroup.procs"), "latin1").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Sends `sig` once to each process in any of `dirs`. A step's processes are members of its group in every hierarchy
 * (v2 and each v1 controller): signalled group by group, each got a SIGTERM two or three times, which many programs
 * read as "stop now, without cleaning up". `kill` is the call (process.kill where it is not given).
 */
export function signalMembers(
  dirs: string[],
  sig: NodeJS.Signals,
  kill: (pid: number, sig: NodeJS.Signals) => unknown = (pid, s) => process.kill(pid, s),
): void {
  for (const pid of new Set(dirs.flatMap(members))) {
    try {
      kill(pid, sig);
    } catch {
      // gone
    }
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/**
 * Waits before a group is looked at again, round 0 first: 0.2 ms, then twice as long each round, up to 2 ms. A
 * sandbox's PID 1 is still tearing its namespaces down (its mounts, its network) as the step's first process exits:
 * gone in 0.3-2 ms, where a flat 2 ms held the agent's thread 2 ms at least (Bun.sleepSync takes whole milliseconds).
 */
function pause(round: number): void {
  Atomics.wait(SLEEPER, 0, 0, Math.min(2, 0.2 * 2 ** round));
}

/** Whether the group holds no process, as read from it (not where it cannot be read). */
function holdsNone(dir: string): boolean {
  try {
    return readFileSync(join(dir, "cgroup.procs"), "latin1").trim() === "";
  } catch {
    return false;
  }
}

/**
 * Kills every process in a group and returns whether it is empty. v2 has `cgroup.kill`, which the kernel
 * applies to members forked meanwhile too; v1 is killed member by member until none is left.
 */
export function killGroup(dir: string): boolean {
  if (!existsSync(dir)) return true;
  // nobody in it (a step's processes all gone, as at most steps' end): nobody can fork into it either
  if (holdsNone(dir)) return true;
  try {
    if (existsSync(join(dir, "cgroup.kill"))) writeFileSync(join(dir, "cgroup.kill"), "1");
  } catch {
    // not ours after all: the loop below does what it can
  }
  for (let round = 0; round < 50; round++) {
    const pids = members(dir);
    if (pids.length === 0) return true;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    pause(round);
  }
  return members(dir).length === 0;
}

/**
 * Kills and removes a group; a group still holding an unkillable process stays (the next start retries). An empty
 * group (most, as a step's end has killed its members already) goes at the first try.
 */
export function removeGroup(dir: string): void {
  try {
    rmdirSync(dir);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
  }
  if (!killGroup(dir)) return;
  for (let round = 0; round < 50; round++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      // EBUSY while the last members are being torn down
      pause(round);
    }
  }
}

/** Writes a group's setting; false where the controller is not there (or not delegated). */
function set(dir: string, file: string, value: number): boolean {
  try {
    writeFileSync(join(dir, file), String(value));
    return true;
  } catch {
    return false;
  }
}

/** The agent's own group in each mounted hierarchy, from `cgroup` and `mountinfo` in `proc` (/proc/self). */
function hierarchies(proc: string): { version: 1 | 2; controllers: string[]; dir: string }[] {
  const own = new Map<string, string>();
  for (const line of readFileSync(join(proc, "cgroup"), "utf8").split("\n")) {
    const [, controllers, path] = line.split(/:(.*?):/);
    if (path !== undefined) own.set(controllers ?? "", path);
  }
  const found: { version: 1 | 2; controllers: string[]; dir: string }[] = [];
  for (const line of readFileSync(join(proc, "mountinfo"), "utf8").split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const fields = left.split(" ");
    const [fstype, , options] = right.split(" ");
    const root = fields[3]!;
    const mountPoint = fields[4]!;
    const relative = (path: string) => (root === "/" ? path : path.startsWith(root) ? path.slice(root.length) : null);
    if (fstype === "cgroup2") {
      const path = relative(own.get("") ?? "/");
      if (path !== null) found.push({ version: 2, controllers: [], dir: join(mountPoint, path) });
    } else if (fstype === "cgroup") {
      const controllers = (options ?? "").split(",").filter((o) => ["pids", "memory", "freezer"].includes(o));
      for (const [key, path] of own) {
        const rel = relative(path);
        if (rel !== null && controllers.length > 0 && key.split(",").some((c) => controllers.includes(c))) {
          found.push({ version: 1, controllers, dir: join(mountPoint, rel) });
        }
      }
    }
  }
  return found;
}

/**
 * The cgroups this agent can make a group per step in, or none (the agent then falls back to process groups
 * and rlimits). v2 (with `cgroup.kill`) keeps the whole tree; v1's `pids` and `memory` controllers add the caps.
 */
export class Cgroups {
  private constructor(private readonly list: Hierarchy[]) {}

  /**
   * `proc` is where the process's `cgroup` and `mountinfo` are read: /proc/self, or for a test a dir whose
   * mountinfo names a cgroup2 mount at a plain directory tree shaped like one (test/unit/cgroups-v2.test.ts).
   */
  static detect(subtree: string, proc = "/proc/self"): Cgroups {
    const list: Hierarchy[] = [];
    let found: ReturnType<typeof hierarchies> = [];
    try {
      found = hierarchies(proc);
    } catch {
      // no /proc: not Linux
    }
    // v2 first: where it holds the step's tree (cgroup.kill), a v1 freezer group would hold the same processes again
    for (const h of found.sort((a, b) => b.version - a.version)) {
      const contained = list.some((l) => l.version === 2);
      const controllers = contained ? h.controllers.filter((c) => c !== "freezer") : h.controllers;
      if (h.version === 1 && controllers.length === 0) continue;
      const base = join(h.dir, subtree);
      try {
        mkdirSync(base, { recursive: true });
        if (h.version === 2) {
          if (!existsSync(join(base, "cgroup.kill"))) continue;
          // memory.max and pids.max in the step's group need the controllers handed down; where the parent holds
          // processes v2 refuses that, and the v2 group then serves for containment only
          for (const dir of [h.dir, base]) {
            try {
              writeFileSync(join(dir, "cgroup.subtree_control"), "+memory +pids");
            } catch {
              // not delegated here
            }
          }
          list.push({ version: 2, controller: "", base });
        } else {
          for (const c of controllers) list.push({ version: 1, controller: c, base });
        }
      } catch {
        // not writable by this agent
      }
    }
    return new Cgroups(list);
  }

  get available(): boolean {
    return this.list.length > 0;
  }

  /** The directories of every group under the agent's subtree, found on disk (what a previous run left). */
  get bases(): string[] {
    return [...new Set(this.list.map((h) => h.base))];
  }

  /** Removes the agent's subtree where no step's group is left in it (at the agent's exit). */
  release(): void {
    for (const base of this.bases) {
      try {
        rmdirSync(base);
      } catch {
        // a group is still in it, or it is gone
      }
    }
  }

  /** Makes the step's groups, with the memory and process caps where a controller is there to hold them. */
  create(name: string, caps: { memoryBytes: number | null; pids: number | null }): StepGroups {
    const groups: StepGroups = { procsFiles: [], dirs: [], memory: null, pids: null };
    for (const h of this.list) {
      const dir = join(h.base, name);
      try {
        // the subtree too, should another agent of the same name have released it at its exit
        mkdirSync(dir, { recursive: true });
      } catch {
        continue;
      }
      if (caps.pids && (h.version === 2 || h.controller === "pids") && set(dir, "pids.max", caps.pids)) groups.pids = "cgroup";
      groups.dirs.push(dir);
      groups.procsFiles.push(join(dir, "cgroup.procs"));
    }
    if (caps.memoryBytes) this.limitMemory(groups, caps.memoryBytes);
    return groups;
  }

  /**
   * Caps the memory of groups made by `create` (made ahead of their step, for a warm start: warm-start.ts): a
   * limit set while processes are in the group already holds them from then on.
   */
  limitMemory(groups: StepGroups, bytes: number): void {
    for (const h of this.list) {
      if (h.version !== 2 && h.controller !== "memory") continue;
      const dir = groups.dirs.find((d) => d.startsWith(`${h.base}/`));
      if (!dir) continue;
      if (set(dir, h.version === 2 ? "memory.max" : "memory.limit_in_bytes", bytes)) groups.memory = "cgroup";
      // without swap accounting a step would page out past its limit instead of being stopped
      if (h.version === 2) set(dir, "memory.swap.max", 0);
      else set(dir, "memory.memsw.limit_in_bytes", bytes);
    }
  }

  /** Whether the kernel's OOM killer ended a process of the step for its memory limit. */
  static oomKilled(groups: StepGroups): boolean {
    for (const dir of groups.dirs) {
      for (const file of ["memory.events", "memory.oom_control"]) {
        try {
          const m = readFileSync(join(dir, file), "utf8").match(/^oom_kill (\d+)/m);
          if (m && Number(m[1]) > 0) return true;
        } catch {
          // not this hierarchy's file
        }
      }
    }
    return false;
  }
}
