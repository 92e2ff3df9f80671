/** Bytes of `path` in the page cache, as util-linux's fincore counts them. */
export function cachedBytes(path: string): number {
  const out = Bun.spawnSync(["fincore", "--bytes", "--noheadings", "--output", "RES", path]);
  if (out.exitCode !== 0) throw new Error(`fincore failed: ${out.stderr.toString()}`);
  return Number(out.stdout.toString().trim());
}
