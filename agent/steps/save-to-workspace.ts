import { type StepContext, formatBytes, plural, storedWhole, uploadArchive } from "./common.ts";

/**
 * Packs the matched paths into this step's workspace archive, which downstream tasks restore; the
 * files are also kept here (kept.ts) for a downstream task that runs on this agent.
 */
export async function saveToWorkspace(step: { paths: string[] }, ctx: StepContext): Promise<void> {
  const keeping = ctx.kept.start();
  let stored: Awaited<ReturnType<typeof ctx.files.putWorkspace>>;
  try {
    const { result, stats } = await uploadArchive(ctx, step.paths, (body) => ctx.files.putWorkspace(ctx.step, body), keeping);
    const counts = storedWhole(stats);
    stored = result;
    ctx.log(
      `saved ${plural(counts.files, "file")} (${formatBytes(counts.bytes)}) to the workspace, ${formatBytes(result.size)} compressed`,
    );
  } catch (e) {
    if (keeping) ctx.kept.discard(keeping);
    throw e;
  }
  if (!keeping) return;
  const notKept = ctx.kept.keep(keeping, stored.object);
  if (notKept) ctx.log(`not kept on this agent: ${notKept}`);
}
