import { readdirSync, readFileSync } from "node:fs";

/** The live descendants of `root` (not root itself), from every process's parent in /proc; `from` 2 leaves out its children. */
export function descendants(root: number, from = 1): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // state and ppid follow the command name, which may hold spaces and parentheses
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z") continue;
      const siblings = children.get(Number(ppid)) ?? [];
      siblings.push(Number(entry));
      children.set(Number(ppid), siblings);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  let level = children.get(root) ?? [];
  for (let depth = 1; level.length > 0; depth++) {
    if (depth >= from) found.push(...level);
    level = level.flatMap((pid) => children.get(pid) ?? []);
  }
  return found;
}

/**
 * Signals every live descendant of `root` (from the given depth: 2 spares its children). SIGKILL repeats until none
 * is left: where root is a child subreaper (reaper.ts) every orphan of its tree is handed to it, so nothing that was
 * under it gets away while it lives.
 */
export function signalDescendants(root: number, sig: NodeJS.Signals, from = 1): void {
  for (let round = 0; round < 50; round++) {
    const pids = descendants(root, from);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone
      }
    }
    if (sig !== "SIGKILL") return;
    Bun.sleepSync(2);
  }
}
