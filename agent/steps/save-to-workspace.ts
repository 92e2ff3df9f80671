import { type StepContext, formatBytes, plural, uploadArchive } from "./common.ts";

/** Packs the matched paths into this step's workspace archive, which downstream tasks restore. */
export async function saveToWorkspace(step: { paths: string[] }, ctx: StepContext): Promise<void> {
  const { result, stats } = await uploadArchive(ctx, step.paths, (body) => ctx.files.putWorkspace(ctx.step, body));
  ctx.log(`saved ${plural(stats.files, "file")} (${formatBytes(stats.bytes)}) to the workspace, ${formatBytes(result.size)} compressed`);
}
