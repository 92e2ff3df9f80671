import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, startCluster } from "../helpers/cluster.ts";

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startAgent("long");
});
afterAll(() => cluster.stop());

/** Every file under `dir` whose bytes contain `text` (one the agent removes meanwhile, say a spool file, holds nothing). */
function filesHolding(dir: string, text: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((path) => readIfThere(path)?.includes(text));
}

function readIfThere(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

test("a run: command of 300 KiB runs (no 'argument list too long'), and leaves no file holding it", async () => {
  const marker = `never-echoed-${process.pid}`;
  // a comment line bash reads and skips: the command is large without its output being so
  const filler = `# ${marker} ${"x".repeat(300 * 1024)}`;
  const pipeline = `tasks:\n  t:\n    steps:\n      - run: |\n          ${filler}\n          echo ok\n`;
  const id = await cluster.submit(pipeline);
  const run = await cluster.waitRun(id, 60_000);
  expect(run.tasks[0]!.attempts.map((a) => `${a.state}:${a.error}`)).toEqual(["success:null"]);
  expect(await cluster.log(id, "t", 0)).toBe("ok\n");
  expect(filesHolding(join(cluster.dir, "agent-long"), marker)).toEqual([]);
});
