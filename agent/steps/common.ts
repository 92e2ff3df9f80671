import { isAbsolute, relative, resolve } from "node:path";
export { formatBytes } from "../../shared/format.ts";
import type { KeyContext } from "../archive/cache-key.ts";
import { expandGlobs } from "../archive/globs.ts";
import type { Keeping } from "../archive/keeping.ts";
import type { KeptWorkspaces } from "../archive/kept.ts";
import { type PackStats, packArchive } from "../archive/pack.ts";
import { type FilesClient, FilesError } from "../connection/files-client.ts";

/** What a workspace, cache or artifact step needs from the attempt it runs in. */
export interface StepContext {
  /** the attempt's work dir: paths and `dest` are relative to it */
  dir: string;
  /** the step's index in the task */
  step: number;
  keys: KeyContext;
  files: FilesClient;
  /** this agent's kept workspace archives */
  kept: KeptWorkspaces;
  /** one human-readable line to the step's log */
  log(line: string): void;
}

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Where a restore puts things: the work dir, or `dest` under it. */
export function destDir(dir: string, dest: string | undefined): string {
  const path = resolve(dir, dest ?? ".");
  const rel = relative(dir, path);
  if (isAbsolute(dest ?? "") || rel.startsWith("..") || isAbsolute(rel)) throw new Error(`dest "${dest}" is outside the work dir`);
  return path;
}

/** Expands `patterns`, saying in the log which matched nothing; returns the matched paths. */
export function matchPaths(ctx: StepContext, patterns: string[]): string[] {
  const { paths, unmatched } = expandGlobs(ctx.dir, patterns);
  for (const pattern of unmatched) ctx.log(`warning: nothing matches "${pattern}"`);
  return paths;
}

/**
 * Packs what `patterns` match and hands the archive stream to `upload`. `stats` is null when the
 * coordinator answered without taking the whole archive (a cache another task stored meanwhile):
 * the rest of the body is then cancelled, which is no failure. With `keep`, the packed files
 * are linked there too.
 */
export async function uploadArchive<T>(
  ctx: StepContext,
  patterns: string[],
  upload: (body: ReadableStream<Uint8Array>) => Promise<T>,
  keep: Keeping | null = null,
): Promise<{ result: T; stats: PackStats | null }> {
  const packed = packArchive(ctx.dir, matchPaths(ctx, patterns), keep);
  let result: T;
  try {
    result = await upload(packed.body);
  } catch (e) {
    // The coordinator's answer explains a refused upload; a read error on our side reaches the
    // upload only as a broken stream, so then the packer knows the cause.
    const answered = e instanceof FilesError && e.status > 0;
    const cause = answered ? e : (packed.failure() ?? (e as Error));
    packed.abort(cause);
    throw cause;
  }
  // answered, so any failure of the packing now is the cancel of a body the coordinator did not need
  const stats = await packed.stats.catch(() => null);
  for (const skipped of stats?.skipped ?? []) ctx.log(`skipped ${skipped}`);
  return { result, stats };
}

/** The counts of an archive the coordinator stored, which it can only have done having taken all of it. */
export function storedWhole(stats: PackStats | null): PackStats {
  if (!stats) throw new Error("the coordinator answered before it had taken the whole archive");
  return stats;
}
