import { extractArchive } from "../archive/extract.ts";
import { type StepContext, destDir, formatBytes, plural } from "./common.ts";

/** Extracts the workspace archives of every ancestor task, in the coordinator's order (later ones win). */
export async function restoreWorkspace(step: { dest?: string }, ctx: StepContext): Promise<void> {
  const dest = destDir(ctx.dir, step.dest);
  const archives = await ctx.files.workspaces();
  if (archives.length === 0) ctx.log("no workspace archives from upstream tasks");
  for (const archive of archives) {
    const files = await extractArchive(await ctx.files.object(archive.object), dest);
    ctx.log(`restored the workspace of ${archive.task}: ${plural(files, "file")} (${formatBytes(archive.size)} compressed)`);
  }
}
