import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { CleanupRequest } from "../../shared/protocol/index.ts";
import { SLOTS_PREFIX } from "../executor/warm-sandbox.ts";
import { keptCheckoutsDir } from "../own-dir.ts";

export interface CleanupResult {
  killedProcesses: number;
  removedPaths: string[];
  errors: string[];
}

/** Process groups whose members carry one of the attempts' ids in their environment. */
function orphanedGroups(attempts: Set<string>): Map<number, number> {
  const groups = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, "latin1").split("\0");
      const id = env.find((e) => e.startsWith("DROVER_ATTEMPT_ID="))?.slice("DROVER_ATTEMPT_ID=".length);
      if (!id || !attempts.has(id)) continue;
      // field 5 of stat is the process group; the command name before it may hold spaces, so split after ")"
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      groups.set(pgid, (groups.get(pgid) ?? 0) + 1);
    } catch {
      // the process ended meanwhile, or is not ours to read
    }
  }
  return groups;
}

/**
 * Cleans up after a dead sibling: ends its attempts' orphaned process groups
 * when they run on this host, and removes their workspaces and spooled logs
 * when this agent shares its work root.
 */
export function cleanUpAfter(request: CleanupRequest, ownWorkDir: string): CleanupResult {
  const result: CleanupResult = { killedProcesses: 0, removedPaths: [], errors: [] };
  const attempts = new Set(request.attempts);
  if (request.host === hostname() && attempts.size > 0) {
    for (const [pgid, count] of orphanedGroups(attempts)) {
      try {
        process.kill(-pgid, "SIGKILL");
        result.killedProcesses += count;
      } catch (e) {
        result.errors.push(`killing process group ${pgid}: ${(e as Error).message}`);
      }
    }
  }
  if (request.workDir === ownWorkDir) {
    const spool = join(request.workDir, "spool");
    const spooled = existsSync(spool) ? readdirSync(spool) : [];
    // the workspaces it kept for downstream tasks (kept.ts) and the work trees it kept for its next checkouts go
    // with it. Only the trees of its own dir: should an agent of the same name start on this work root meanwhile,
    // a tree it is using that vanishes makes its checkout start afresh, while its identity and lease stay.
    const paths = [join(request.workDir, "kept", request.agent)];
    // a name is any text an agent chose: one with a slash would name a dir elsewhere
    if (request.name && !request.name.includes("/")) paths.push(keptCheckoutsDir(request.workDir, request.name));
    // an attempt whose step was running in a sandbox started ahead has its dir in that sandbox's slot (warm-sandbox.ts)
    const slots = readdirSync(request.workDir)
      .filter((name) => name.startsWith(SLOTS_PREFIX))
      .flatMap((name) => readdirSync(join(request.workDir, name)).map((slot) => join(request.workDir, name, slot)));
    for (const attempt of attempts) {
      paths.push(join(request.workDir, "attempts", attempt), ...slots.map((slot) => join(slot, attempt)));
      for (const f of spooled) if (f.startsWith(`${attempt}-`)) paths.push(join(spool, f));
    }
    for (const path of paths) {
      if (!existsSync(path)) continue;
      try {
        rmSync(path, { recursive: true, force: true });
        result.removedPaths.push(path);
      } catch (e) {
        result.errors.push(`removing ${path}: ${(e as Error).message}`);
      }
    }
  }
  return result;
}
