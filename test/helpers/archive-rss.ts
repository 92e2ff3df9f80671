/**
 * Run as `bun test/helpers/archive-rss.ts SRC ARCHIVE DEST`: packs SRC/big.bin into ARCHIVE, then extracts
 * it into DEST, and prints each one's peak RSS growth in MiB as JSON ({"packing":…,"extracting":…}).
 * A process of its own, so the figure is the archive code's alone: in the test process it also counted
 * whatever the suite's earlier files left running (72.9 MiB once, in a random order).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { extractArchive } from "../../agent/archive/extract.ts";
import { packArchive } from "../../agent/archive/pack.ts";

/** Peak RSS growth while `work` runs, in MiB. */
async function rssGrowth(work: () => Promise<unknown>): Promise<number> {
  Bun.gc(true);
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return (Math.max(peak, process.memoryUsage().rss) - before) / 1024 / 1024;
}

const [src, archive, dest] = process.argv.slice(2) as [string, string, string];
const packing = await rssGrowth(async () => {
  const out = openSync(archive, "w");
  for await (const frame of packArchive(src, ["big.bin"]).body) writeSync(out, frame);
  closeSync(out);
});
const extracting = await rssGrowth(() => extractArchive(Bun.file(archive).stream(), dest));
console.log(JSON.stringify({ packing, extracting }));
