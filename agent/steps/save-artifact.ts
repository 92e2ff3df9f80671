import { lstatSync } from "node:fs";
import { join } from "node:path";
import { type StepContext, formatBytes, matchPaths, plural } from "./common.ts";

/** Uploads each matched regular file as its own artifact, so that each can be downloaded alone. */
export async function saveArtifact(step: { paths: string[] }, ctx: StepContext): Promise<void> {
  let count = 0;
  let bytes = 0;
  for (const path of matchPaths(ctx, step.paths)) {
    const st = lstatSync(join(ctx.dir, path));
    if (st.isDirectory()) continue;
    if (!st.isFile()) {
      ctx.log(`skipped ${path} (not a regular file)`);
      continue;
    }
    const stored = await ctx.files.putArtifact(path, Bun.file(join(ctx.dir, path)));
    ctx.log(`uploaded ${path} (${formatBytes(stored.size)})`);
    count++;
    bytes += stored.size;
  }
  ctx.log(`saved ${plural(count, "artifact")} (${formatBytes(bytes)})`);
}
