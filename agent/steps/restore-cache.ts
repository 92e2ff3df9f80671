import { renderCacheKey } from "../archive/cache-key.ts";
import { extractArchive } from "../archive/extract.ts";
import { type StepContext, destDir, formatBytes, plural } from "./common.ts";

/** Restores the first cache found: for each key in order, the exact key, then the newest key it prefixes. A miss is no failure. */
export async function restoreCache(step: { keys: string[]; dest?: string }, ctx: StepContext): Promise<void> {
  const dest = destDir(ctx.dir, step.dest);
  // Rendered up front: a key that cannot be rendered is a pipeline mistake even when an earlier key hits.
  const keys: string[] = [];
  for (const template of step.keys) keys.push(await renderCacheKey(template, ctx.keys));
  for (const key of keys) {
    const hit = (await ctx.files.cache(key)) ?? (await ctx.files.newestCache(key));
    if (!hit) continue;
    const files = await extractArchive(await ctx.files.object(hit.object), dest);
    const how = hit.key === key ? "" : `, newest for prefix ${key}`;
    ctx.log(`restored cache ${hit.key} (${formatBytes(hit.size)}${how}): ${plural(files, "file")}`);
    return;
  }
  ctx.log(`cache miss for keys: ${keys.join(", ")}`);
}
