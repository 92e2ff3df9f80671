import { type StepContext, formatBytes, plural, storedWhole, uploadArchive } from "./common.ts";

/**
 * Packs the matched paths into this step's workspace archive, which downstream tasks restore; the
 * files are also kept here (kept.ts) for a downstream task that runs on this agent.
 */
export async function saveToWorkspace(step: { paths: string[] }, ctx: StepContext): Promise<void> {
  const keeping = ctx.kept.start();
  const saved = uploadArchive(ctx, step.paths, (body) => ctx.files.putWorkspace(ctx.step, body), keeping).then(
    ({ result, stats }) => ({ result, counts: storedWhole(stats) }),
  );
  const { result, counts } = await saved.catch((e) => {
    if (keeping) void ctx.kept.discard(keeping);
    throw e;
  });
  ctx.log(`saved ${plural(counts.files, "file")} (${formatBytes(counts.bytes)}) to the workspace, ${formatBytes(result.size)} compressed`);
  if (!keeping) return;
  const notKept = ctx.kept.keep(keeping, result.object);
  if (notKept) ctx.log(`not kept on this agent: ${notKept}`);
}
