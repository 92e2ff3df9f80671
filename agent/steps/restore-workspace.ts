import { adoptKept, extractArchive, HostileArchiveError } from "../archive/extract.ts";
import { ChangedCopyError } from "../archive/kept.ts";
import type { WorkspaceArchive } from "../../shared/protocol/archive-api.ts";
import { type StepContext, destDir, formatBytes, plural } from "./common.ts";

/** Extracts the workspace archives of every ancestor task, in the coordinator's order (later ones win). */
export async function restoreWorkspace(step: { dest?: string }, ctx: StepContext): Promise<void> {
  const dest = destDir(ctx.dir, step.dest);
  const archives = await ctx.files.workspaces();
  if (archives.length === 0) ctx.log("no workspace archives from upstream tasks");
  for (const archive of archives) {
    const moved = await fromKept(archive, dest, ctx);
    if (moved !== null) {
      ctx.log(`restored the workspace of ${archive.task}: ${plural(moved.files, "file")}, moved from the copy ${moved.prefetched ? "prefetched to" : "kept on"} this agent`);
      continue;
    }
    const files = await extractArchive(await ctx.files.object(archive.object), dest);
    ctx.log(`restored the workspace of ${archive.task}: ${plural(files, "file")} (${formatBytes(archive.size)} compressed)`);
  }
}

/**
 * Places the copy of `archive` kept on (or prefetched to) this agent, if there is one still as written:
 * how many files it moved, or null to download. Extraction would refuse a hostile placement the same way; any other
 * failure part way, or a copy still being prefetched that turns out not to be the stored archive once it
 * ends, leaves files (each one an entry of that archive) that the download then overwrites.
 */
async function fromKept(archive: WorkspaceArchive, dest: string, ctx: StepContext): Promise<{ files: number; prefetched: boolean } | null> {
  const kept = await ctx.kept.claim(archive, ctx.log);
  if (!kept) return null;
  try {
    const files = await adoptKept(kept, dest);
    const unusable = await kept.unusable();
    if (unusable) {
      ctx.log(`${unusable}: downloading the archive`);
      return null;
    }
    return { files, prefetched: kept.prefetched };
  } catch (e) {
    if (e instanceof HostileArchiveError) throw e;
    if (e instanceof ChangedCopyError) ctx.log(`${e.message}: downloading the archive`);
    else ctx.log(`could not use the copy ${kept.prefetched ? "prefetched to" : "kept on"} this agent (${(e as Error).message}): downloading the archive`);
    return null;
  } finally {
    await kept.release();
  }
}
