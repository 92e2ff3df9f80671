import { renderCacheKey } from "../archive/cache-key.ts";
import { type StepContext, formatBytes, plural, storedWhole, uploadArchive } from "./common.ts";

/** Saves the matched paths under a rendered key, unless a cache of that key already exists (caches are immutable). */
export async function saveCache(step: { key: string; paths: string[] }, ctx: StepContext): Promise<void> {
  const key = await renderCacheKey(step.key, ctx.keys);
  if (await ctx.files.cache(key)) {
    ctx.log(`cache ${key} exists, not saved`);
    return;
  }
  const { result: stored, stats } = await uploadArchive(ctx, step.paths, (body) => ctx.files.putCache(key, body));
  if (!stored) return ctx.log(`cache ${key} was saved by another task meanwhile, not stored`);
  const { files, bytes } = storedWhole(stats);
  ctx.log(`saved cache ${key}: ${plural(files, "file")} (${formatBytes(bytes)})`);
}
