import { describe, expect, test } from "bun:test";
import { appendFileSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { adoptKept, extractArchive } from "../../agent/archive/extract.ts";
import { expandGlobs } from "../../agent/archive/globs.ts";
import { KeptWorkspaces } from "../../agent/archive/kept.ts";
import { packArchive } from "../../agent/archive/pack.ts";
import { Prefetcher } from "../../agent/archive/prefetch.ts";
import { waitFor } from "../helpers/processes.ts";
import { putFiles, putSampleTree, tree } from "../helpers/sample-tree.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { fresh } = scratchDirs("drover-prefetch-");

async function archiveOf(files: Record<string, string> = {}): Promise<Uint8Array<ArrayBuffer>> {
  const src = fresh("src");
  putSampleTree(src);
  putFiles(src, files);
  return new Uint8Array(await new Response(packArchive(src, expandGlobs(src, ["**"]).paths).body).arrayBuffer());
}

/** A follow that hands out `archive` in two halves, the second once `more` is called (or breaks off there). */
function followed(archive: Uint8Array) {
  let more: (go: boolean) => void = () => {};
  const second = new Promise<boolean>((resolve) => (more = resolve));
  const half = Math.floor(archive.length / 2);
  async function* body(): AsyncGenerator<Uint8Array> {
    yield archive.subarray(0, half);
    if (!(await second)) throw new Error("the connection closed before the whole body came");
    yield archive.subarray(half);
  }
  return { follow: async () => body(), more };
}

function setUp(budget = 1 << 30) {
  const kept = new KeptWorkspaces(fresh("kept"), budget);
  kept.open("agent-1");
  const lines: string[] = [];
  return { kept, lines, log: (line: string) => lines.push(line) };
}

const claim = async (kept: KeptWorkspaces, object: string, size: number) => {
  const notes: string[] = [];
  return { archive: await kept.claim({ object, size }, (line) => notes.push(line)), notes };
};

describe("prefetched workspaces", () => {
  test("a prefetch restores what extracting the archive does; a restore during it waits for it", async () => {
    const archive = await archiveOf();
    const { kept, log, lines } = setUp();
    const { follow, more } = followed(archive);
    new Prefetcher(kept, follow, log).start({ type: "prefetch", grant: "g", object: "obj" });
    const claimed = claim(kept, "obj", archive.length);
    more(true);
    const { archive: copy, notes } = await claimed;
    expect(notes).toEqual(["waiting for the prefetch of this workspace to this agent to finish"]);
    expect(copy?.prefetched).toBe(true);
    const dest = fresh("dest");
    const extracted = fresh("extracted");
    expect(await adoptKept(copy!, dest)).toBe(await extractArchive(new Blob([archive]).stream(), extracted));
    await copy!.release();
    expect(tree(dest)).toEqual(tree(extracted));
    expect(lines).toEqual([`prefetched obj: ${copy!.entries.length} entries from ${archive.length} bytes of archive`]);
    expect((await claim(kept, "obj", archive.length)).archive).toBeNull();
  });

  test("an upload that broke off leaves no copy", async () => {
    const { kept, log, lines } = setUp();
    const { follow, more } = followed(await archiveOf());
    new Prefetcher(kept, follow, log).start({ type: "prefetch", grant: "g", object: "obj" });
    more(false);
    expect((await claim(kept, "obj", 1)).archive).toBeNull();
    expect(lines).toEqual(["prefetch of obj dropped: the connection closed before the whole body came"]);
    await waitFor("the copy to go", () => readdirSync(join(kept["base"], "agent-1")).length === 0);
  });

  test("a copy of another size than the stored archive, or changed since, is not used", async () => {
    const archive = await archiveOf();
    const { kept, log } = setUp();
    for (const object of ["resized", "changed"]) {
      const { follow, more } = followed(archive);
      more(true);
      new Prefetcher(kept, follow, log).start({ type: "prefetch", grant: "g", object });
      await waitFor("the prefetch", () => !kept["prefetching"].has(object));
    }
    const resized = await claim(kept, "resized", archive.length + 1);
    expect(resized.archive).toBeNull();
    expect(resized.notes).toEqual([`the copy prefetched to this agent has changed since it was written (${archive.length} bytes of archive, stored ${archive.length + 1}): downloading the archive`]);
    const dir = join(kept["base"], "agent-1");
    await waitFor("the resized copy to go", () => readdirSync(dir).length === 1);
    const [copyDir] = readdirSync(dir);
    const file = readdirSync(join(dir, copyDir!)).map((name) => join(dir, copyDir!, name)).find((p) => lstatSync(p).isFile())!;
    appendFileSync(file, "tampered");
    const changed = await claim(kept, "changed", archive.length);
    expect(changed.archive).toBeNull();
    expect(changed.notes[0]).toMatch(/^the copy prefetched to this agent has changed since it was written \(.+\): downloading the archive$/);
  });

  test("a prefetch larger than the budget is dropped", async () => {
    const archive = await archiveOf({ "big.txt": "x".repeat(64 * 1024) });
    const { kept, log, lines } = setUp(32 * 1024);
    const { follow, more } = followed(archive);
    more(true);
    new Prefetcher(kept, follow, log).start({ type: "prefetch", grant: "g", object: "obj" });
    expect((await claim(kept, "obj", archive.length)).archive).toBeNull();
    expect(lines).toEqual(["prefetch of obj dropped: it is larger than this agent keeps"]);
  });
});
