import { describe, expect, test } from "bun:test";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statfsSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { waitFor } from "../helpers/processes.ts";
import { adoptKept, extractArchive, HostileArchiveError } from "../../agent/archive/extract.ts";
import { expandGlobs } from "../../agent/archive/globs.ts";
import { diskTooFull, type KeptArchive, KeptWorkspaces } from "../../agent/archive/kept.ts";
import { packArchive } from "../../agent/archive/pack.ts";
import { putFiles, putSampleTree, tree } from "../helpers/sample-tree.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { fresh } = scratchDirs("drover-kept-");

/** A KeptWorkspaces opened for an agent, with a budget. */
function workspaces(budget = 1 << 30): { kept: KeptWorkspaces; base: string } {
  const base = fresh("kept");
  const kept = new KeptWorkspaces(base, budget);
  kept.open("agent-1");
  return { kept, base };
}

/** Packs `patterns` under `src` as save_to_workspace does, keeping it as `object`; returns the archive's bytes and why it was not kept. */
async function save(
  kept: KeptWorkspaces,
  src: string,
  object: string,
  patterns = ["**"],
): Promise<{ archive: Blob; refused: string | null }> {
  const keeping = kept.start()!;
  const packed = packArchive(src, expandGlobs(src, patterns).paths, keeping);
  const archive = await new Response(packed.body).blob();
  await packed.stats;
  kept.keep(keeping, object);
  return { archive, refused: keeping.refused };
}

async function claim(kept: KeptWorkspaces, object: string, size = 0): Promise<{ archive: KeptArchive | null; notes: string[] }> {
  const notes: string[] = [];
  return { archive: await kept.claim({ object, size }, (line) => notes.push(line)), notes };
}

/** The sample tree, with a setgid script (extraction drops the bit) and a file three dirs deep. */
function sample(): string {
  const src = fresh("src");
  putSampleTree(src);
  chmodSync(join(src, "bin/run.sh"), 0o2755);
  putFiles(src, { "a/b/c/deep.txt": "deep" });
  return src;
}

describe("kept workspaces", () => {
  test("a kept copy restores what extracting the archive does, moving its files; a second claim finds none", async () => {
    const { kept } = workspaces();
    const src = sample();
    const packed = lstatSync(join(src, "lib/tool.js")).ino;
    const { archive, refused } = await save(kept, src, "obj-1");
    expect(refused).toBeNull();
    const extracted = fresh("extracted");
    expect(await extractArchive(archive.stream(), extracted)).toBe(5);
    const { archive: found, notes } = await claim(kept, "obj-1");
    expect(notes).toEqual([]);
    const dest = fresh("dest");
    expect(await adoptKept(found!, dest)).toBe(5);
    await found!.release();
    expect(tree(dest)).toEqual(tree(extracted));
    expect(tree(dest)["passwd"]).toBeUndefined();
    // moved, not copied: the inode packed is the one restored, with the time of the restore as its mtime
    expect(lstatSync(join(dest, "lib/tool.js")).ino).toBe(packed);
    expect(lstatSync(join(dest, "lib/tool.js")).mtimeMs).toBeGreaterThan(Date.now() - 5000);
    expect((await claim(kept, "obj-1")).archive).toBeNull();
    expect((await claim(kept, "never-saved")).archive).toBeNull();
  });

  test("a file written in place after the save voids the copy; one replaced under its name does not", async () => {
    const { kept } = workspaces();
    const src = fresh("src");
    putFiles(src, { "out/a.txt": "packed a", "out/b.txt": "packed b" });
    await save(kept, src, "obj-written");
    appendFileSync(join(src, "out/b.txt"), " and more");
    const written = await claim(kept, "obj-written");
    expect(written.archive).toBeNull();
    expect(written.notes).toEqual([
      "the copy kept on this agent has changed since it was saved (out/b.txt): downloading the archive",
    ]);

    const other = fresh("src");
    putFiles(other, { "out/a.txt": "packed a" });
    await save(kept, other, "obj-replaced");
    writeFileSync(join(other, "new.txt"), "replacement");
    renameSync(join(other, "new.txt"), join(other, "out/a.txt"));
    const { archive } = await claim(kept, "obj-replaced");
    const dest = fresh("dest");
    await adoptKept(archive!, dest);
    await archive!.release();
    expect(readFileSync(join(dest, "out/a.txt"), "utf8")).toBe("packed a");
  });

  test("a claim takes the saving dir's names for the files away, so none placed has another; one linked elsewhere meanwhile voids the copy", async () => {
    const { kept } = workspaces();
    const src = fresh("src");
    putFiles(src, { "out/a.txt": "packed a", "out/b.txt": "packed b" });
    await save(kept, src, "obj-own");
    const { archive } = await claim(kept, "obj-own");
    // the saving attempt's dir, removed later, would otherwise change the placed files' ctime as it went
    expect(existsSync(join(src, "out/a.txt"))).toBe(false);
    const dest = fresh("dest");
    expect(await adoptKept(archive!, dest)).toBe(2);
    await archive!.release();
    expect([lstatSync(join(dest, "out/a.txt")).nlink, lstatSync(join(dest, "out/b.txt")).nlink]).toEqual([1, 1]);
    expect(readFileSync(join(dest, "out/b.txt"), "utf8")).toBe("packed b");

    const linked = fresh("src");
    putFiles(linked, { "out/a.txt": "packed a", "out/b.txt": "packed b" });
    await save(kept, linked, "obj-linked-later");
    const elsewhere = join(fresh("elsewhere"), "b.txt");
    linkSync(join(linked, "out/b.txt"), elsewhere);
    const refused = await claim(kept, "obj-linked-later");
    expect(refused.archive).toBeNull();
    expect(refused.notes).toEqual(["the copy kept on this agent has another name for out/b.txt: downloading the archive"]);
    expect(readFileSync(elsewhere, "utf8")).toBe("packed b");

    // a step's symlink on the packed path: the name it leads to is not taken away
    const moved = fresh("src");
    putFiles(moved, { "out/a.txt": "packed a" });
    await save(kept, moved, "obj-symlinked");
    renameSync(join(moved, "out"), join(moved, "real-out"));
    symlinkSync(join(moved, "real-out"), join(moved, "out"));
    expect((await claim(kept, "obj-symlinked")).notes).toEqual([
      "the copy kept on this agent has another name for out/a.txt: downloading the archive",
    ]);
    expect(readFileSync(join(moved, "real-out/a.txt"), "utf8")).toBe("packed a");
  });

  test("a claim while the ended attempt's dir is being removed places the copy all the same", async () => {
    const { kept } = workspaces();
    // the removal (on the thread pool) takes names away as the claim looks at them: a few rounds make them meet
    for (let round = 0; round < 5; round++) {
      const src = fresh("src");
      putFiles(src, Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`out/d${i % 8}/f${i}.txt`, `file ${i}`])));
      await save(kept, src, `obj-removed-${round}`);
      const removal = rm(src, { recursive: true, force: true });
      const { archive } = await claim(kept, `obj-removed-${round}`);
      await removal;
      const dest = fresh("dest");
      expect(await adoptKept(archive!, dest)).toBe(400);
      await archive!.release();
      expect(readFileSync(join(dest, "out/d3/f123.txt"), "utf8")).toBe("file 123");
    }
  });

  test("files with another name, files still being written and archives over the budget are not kept", async () => {
    const { kept, base } = workspaces(100);
    const linked = fresh("src");
    putFiles(linked, { "a.txt": "a" });
    linkSync(join(linked, "a.txt"), join(fresh("elsewhere"), "same-inode"));
    expect((await save(kept, linked, "obj-linked")).refused).toBe("a.txt has more than one name");

    const busy = fresh("src");
    putFiles(busy, { "log.txt": "start\n" });
    // a process appending all along (a timer in this one need not fire while the save runs), and a timer in this one
    // too: a loaded machine once paused that process through twenty tries, while this one's timers fire, at the
    // latest, just before the save looks at the file again (its own look waits on a timer due later)
    const busyTries: string[] = [];
    const writer = Bun.spawn(["bash", "-c", 'while :; do echo line >>"$1"; done', "writer", join(busy, "log.txt")]);
    const appending = setInterval(() => appendFileSync(join(busy, "log.txt"), "tick\n"), 1);
    try {
      await waitFor("the writer to append", () => (statSync(join(busy, "log.txt")).size > 100 ? true : undefined), 5000, 1);
      // A loaded machine may pause the writer past the racy window: the file then looks settled, and its size (over
      // the budget) refuses it, linking nothing (a copy kept would give the file a second name for the next try).
      // Five such tries in a row happened once in CI: up to twenty.
      let refused: string | null = null;
      while (busyTries.length < 20 && refused !== "log.txt was being written") {
        busyTries.push(`obj-busy-${busyTries.length}`);
        refused = (await save(kept, busy, busyTries.at(-1)!)).refused;
      }
      expect(refused).toBe("log.txt was being written");
    } finally {
      clearInterval(appending);
      writer.kill("SIGKILL");
      await writer.exited;
    }

    const big = fresh("src");
    putFiles(big, { "a.bin": "x".repeat(60), "b.bin": "y".repeat(60) });
    expect((await save(kept, big, "obj-big")).refused).toBe("it is larger than this agent keeps");

    for (const object of ["obj-linked", ...busyTries, "obj-big"]) expect((await claim(kept, object)).archive).toBeNull();
    // nothing of them stays on disk once their links are gone (removed in the background: a loaded machine takes longer)
    const left = () => readdirSync(join(base, "agent-1"));
    await waitFor("the refused copies' links to go", () => left().length === 0 || undefined, 10_000, 10).catch(() => {});
    expect(left()).toEqual([]);
  });

  test("nothing is kept on a filesystem with less than a tenth of it free: kept copies hold space the build would free", () => {
    expect(diskTooFull({ bavail: 9, blocks: 100 })).toBe(true);
    expect(diskTooFull({ bavail: 10, blocks: 100 })).toBe(false);
    // this machine's scratch disk has room, so the other tests here keep their copies
    expect(diskTooFull(statfsSync(fresh("statfs")))).toBe(false);
  });

  test("the oldest copies make room within the budget", async () => {
    const { kept } = workspaces(100);
    const first = fresh("src");
    putFiles(first, { "a.bin": "1".repeat(60) });
    const second = fresh("src");
    putFiles(second, { "a.bin": "2".repeat(60) });
    await save(kept, first, "obj-first");
    await save(kept, second, "obj-second");
    expect((await claim(kept, "obj-first")).archive).toBeNull();
    const { archive } = await claim(kept, "obj-second");
    expect(archive?.entries.map((e) => e.name)).toEqual(["a.bin"]);
    await archive!.release();
  });

  test("placing a kept copy makes the checks extraction makes: nothing lands outside through a link", async () => {
    const { kept } = workspaces();
    const src = fresh("src");
    putFiles(src, { "ws/pwned": "x" });
    await save(kept, src, "obj-hostile");
    const dest = fresh("dest");
    const outside = fresh("outside");
    symlinkSync(outside, join(dest, "ws"));
    const { archive } = await claim(kept, "obj-hostile");
    await expect(adoptKept(archive!, dest)).rejects.toThrow(HostileArchiveError);
    await archive!.release();
    expect(readdirSync(outside)).toEqual([]);
  });

  test("opening again under the same id drops what an earlier process kept; closing drops everything", async () => {
    const { kept, base } = workspaces();
    const src = fresh("src");
    putFiles(src, { "a.txt": "a" });
    await save(kept, src, "obj-1");
    expect(readdirSync(join(base, "agent-1")).length).toBe(1);
    const again = new KeptWorkspaces(base, 1 << 30);
    again.open("agent-1");
    expect(readdirSync(join(base, "agent-1"))).toEqual([]);
    kept.close();
    expect(existsSync(join(base, "agent-1"))).toBe(false);
    expect(readFileSync(join(src, "a.txt"), "utf8")).toBe("a");
  });
});
