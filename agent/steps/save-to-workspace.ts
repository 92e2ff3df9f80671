import { type StepContext, formatBytes, plural, storedWhole, uploadArchive } from "./common.ts";

/** Packs the matched paths into this step's workspace archive, which downstream tasks restore. */
export async function saveToWorkspace(step: { paths: string[] }, ctx: StepContext): Promise<void> {
  const { result, stats: packed } = await uploadArchive(ctx, step.paths, (body) => ctx.files.putWorkspace(ctx.step, body));
  const stats = storedWhole(packed);
  ctx.log(`saved ${plural(stats.files, "file")} (${formatBytes(stats.bytes)}) to the workspace, ${formatBytes(result.size)} compressed`);
}
