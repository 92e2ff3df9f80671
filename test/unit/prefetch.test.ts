import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { adoptKept, extractArchive } from "../../agent/archive/extract.ts";
import { expandGlobs } from "../../agent/archive/globs.ts";
import { ChangedCopyError, KeptWorkspaces } from "../../agent/archive/kept.ts";
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

/** What a restore of `object` does with the copy (restore-workspace.ts): how many files it placed, or why it downloads. */
async function restore(kept: KeptWorkspaces, object: string, size: number, dest: string) {
  const { archive: copy, notes } = await claim(kept, object, size);
  if (!copy) return { files: null, notes };
  try {
    const files = await adoptKept(copy, dest);
    const unusable = await copy.unusable();
    return { files: unusable ? null : files, notes: unusable ? [...notes, unusable] : notes };
  } finally {
    await copy.release();
  }
}

/** 8 MiB of text that zstd shrinks a little: frames decompressed whole, several of them in each half of the archive. */
const LARGE = { "zz.txt": randomBytes(6 * 1024 * 1024).toString("base64") };

describe("prefetched workspaces", () => {
  test("a prefetch restores what extracting the archive does; a restore during it places each file as it is written", async () => {
    const archive = await archiveOf(LARGE);
    const { kept, log, lines } = setUp();
    const { follow, more } = followed(archive);
    new Prefetcher(kept, follow, log).start({ type: "prefetch", grant: "g", object: "obj" });
    const dest = fresh("dest");
    const restored = restore(kept, "obj", archive.length, dest);
    // the first half of the archive holds the small files: they are in place before the rest comes
    await waitFor("the first files placed", () => existsSync(join(dest, "bin/run.sh")));
    expect(existsSync(join(dest, "zz.txt"))).toBe(false);
    expect(lines).toEqual([]);
    more(true);
    const { files, notes } = await restored;
    expect(notes).toEqual(["placing the files of the prefetch of this workspace to this agent as it writes them"]);
    const extracted = fresh("extracted");
    expect(files).toBe(await extractArchive(new Blob([archive]).stream(), extracted));
    expect(tree(dest)).toEqual(tree(extracted));
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^prefetched obj: \\d+ entries from ${archive.length} bytes of archive$`))]);
    expect((await claim(kept, "obj", archive.length)).archive).toBeNull();
    await waitFor("the copy to go", () => readdirSync(join(kept["base"], "agent-1")).length === 0);
  });

  test("a prefetch that ends before the restore leaves a copy the restore moves whole", async () => {
    const archive = await archiveOf();
    const { kept, log } = setUp();
    const { follow, more } = followed(archive);
    more(true);
    new Prefetcher(kept, follow, log).start({ type: "prefetch", grant: "g", object: "obj" });
    await waitFor("the prefetch", () => !kept["prefetching"].has("obj"));
    const dest = fresh("dest");
    const { files, notes } = await restore(kept, "obj", archive.length, dest);
    expect(notes).toEqual([]);
    const extracted = fresh("extracted");
    expect(files).toBe(await extractArchive(new Blob([archive]).stream(), extracted));
    expect(tree(dest)).toEqual(tree(extracted));
  });

  test("an upload that broke off leaves no copy; a restore that was placing it downloads", async () => {
    const { kept, log, lines } = setUp();
    const archive = await archiveOf(LARGE);
    const { follow, more } = followed(archive);
    new Prefetcher(kept, follow, log).start({ type: "prefetch", grant: "g", object: "obj" });
    const restored = restore(kept, "obj", archive.length, fresh("dest"));
    more(false);
    expect(await restored).toEqual({
      files: null,
      notes: ["placing the files of the prefetch of this workspace to this agent as it writes them", "the prefetch of this workspace to this agent broke off"],
    });
    expect((await claim(kept, "obj", archive.length)).archive).toBeNull();
    expect(lines).toEqual(["prefetch of obj dropped: the connection closed before the whole body came"]);
    await waitFor("the copy to go", () => readdirSync(join(kept["base"], "agent-1")).length === 0);
  });

  test("a follow that brings nothing more while a restore takes the copy is given up soon: the restore downloads", async () => {
    const { kept, log, lines } = setUp();
    const archive = await archiveOf(LARGE);
    // the first half, then nothing until the prefetch gives up (a coordinator that stopped answering)
    const follow = async (_grant: string, signal: AbortSignal) =>
      (async function* () {
        yield archive.subarray(0, Math.floor(archive.length / 2));
        // as fetch's body does, also when the abort came first (the extraction of the first half outlasted the limit)
        signal.throwIfAborted();
        await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
      })();
    // nothing for 200 ms is still a live upload; with a restore waiting it is not
    new Prefetcher(kept, follow, log, { uploadingMs: 60_000, restoringMs: 50 }).start({ type: "prefetch", grant: "g", object: "obj" });
    await Bun.sleep(200);
    expect(lines).toEqual([]);
    expect(await restore(kept, "obj", archive.length, fresh("dest"))).toEqual({
      files: null,
      notes: ["placing the files of the prefetch of this workspace to this agent as it writes them", "the prefetch of this workspace to this agent broke off"],
    });
    expect(lines).toEqual(["prefetch of obj dropped: nothing came for 0 s"]);
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

  test("a copy still being prefetched is checked as it is placed: another size, or a file changed, is not used", async () => {
    const archive = await archiveOf(LARGE);
    const { kept, log } = setUp();
    const resized = followed(archive);
    new Prefetcher(kept, resized.follow, log).start({ type: "prefetch", grant: "g", object: "resized" });
    const placing = restore(kept, "resized", archive.length + 1, fresh("dest"));
    resized.more(true);
    expect((await placing).notes[1]).toBe(`the copy prefetched to this agent has changed since it was written (${archive.length} bytes of archive, stored ${archive.length + 1})`);

    const changed = followed(archive);
    new Prefetcher(kept, changed.follow, log).start({ type: "prefetch", grant: "g", object: "changed" });
    const { archive: copy } = await claim(kept, "changed", archive.length);
    await waitFor("a small file listed", () => copy!.entries.some((e) => e.name === "lib/tool.js"));
    const tool = copy!.entries.findIndex((e) => e.name === "lib/tool.js");
    // written in place once the prefetch wrote it: its size (and mtime) no longer what was recorded
    expect(await copy!.ready(tool)).toBe(true);
    appendFileSync(copy!.path(tool), "tampered");
    await expect(adoptKept(copy!, fresh("dest"))).rejects.toThrow(ChangedCopyError);
    changed.more(true);
    await copy!.release();
  });

  test("a prefetch larger than the budget is dropped", async () => {
    const archive = await archiveOf({ "big.txt": "x".repeat(64 * 1024) });
    const { kept, log, lines } = setUp(32 * 1024);
    const { follow, more } = followed(archive);
    more(true);
    new Prefetcher(kept, follow, log).start({ type: "prefetch", grant: "g", object: "obj" });
    await waitFor("the prefetch", () => !kept["prefetching"].has("obj"));
    expect((await claim(kept, "obj", archive.length)).archive).toBeNull();
    expect(lines).toEqual(["prefetch of obj dropped: it is larger than this agent keeps"]);
  });
});
