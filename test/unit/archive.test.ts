import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { putSampleTree } from "../helpers/sample-tree.ts";
import { scratchDirs } from "../helpers/scratch.ts";
import { Readable } from "node:stream";
import { createGzip } from "node:zlib";
import tar, { type Header } from "tar-stream";
import { HostileArchiveError, extractArchive } from "../../agent/archive/extract.ts";
import { expandGlobs } from "../../agent/archive/globs.ts";
import { packArchive } from "../../agent/archive/pack.ts";

const { fresh } = scratchDirs("drover-archive-");

function put(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

describe("expandGlobs", () => {
  const root = fresh("globs");
  put(root, {
    "dist/a.js": "a",
    "dist/sub/b.js": "b",
    "dist/.hidden": "h",
    "a.txt": "1",
    "b.txt": "2",
    "sub/c.txt": "3",
    "node_modules/x/index.js": "x",
    "outside/secret": "s",
  });
  symlinkSync("dist", join(root, "linkdir"));
  symlinkSync("/etc", join(root, "etc"));

  test("globs, directory names and plain files, sorted", () => {
    expect(expandGlobs(root, ["dist/**"]).paths).toEqual(["dist", "dist/.hidden", "dist/a.js", "dist/sub", "dist/sub/b.js"]);
    expect(expandGlobs(root, ["*.txt"]).paths).toEqual(["a.txt", "b.txt"]);
    expect(expandGlobs(root, ["**/*.txt"]).paths).toEqual(["a.txt", "b.txt", "sub/c.txt"]);
    expect(expandGlobs(root, ["node_modules", "./sub/c.txt"]).paths).toEqual([
      "node_modules",
      "node_modules/x",
      "node_modules/x/index.js",
      "sub/c.txt",
    ]);
  });

  test("symlinks are listed, never followed", () => {
    expect(expandGlobs(root, ["linkdir/**", "etc/**"]).paths).toEqual(["etc", "linkdir"]);
    expect(expandGlobs(root, ["etc/passwd"]).paths).toEqual([]);
  });

  test("patterns matching nothing are reported; patterns leaving the root are refused", () => {
    expect(expandGlobs(root, ["missing/**", "a.txt"])).toEqual({ paths: ["a.txt"], unmatched: ["missing/**"] });
    expect(() => expandGlobs(root, ["../x"])).toThrow(/outside the work dir/);
    expect(() => expandGlobs(root, ["/etc/passwd"])).toThrow(/outside the work dir/);
  });
});

describe("pack and extract", () => {
  test("a round trip keeps content, modes, empty dirs and symlinks", async () => {
    const src = fresh("src");
    putSampleTree(src);
    const packed = packArchive(src, expandGlobs(src, ["**"]).paths);
    const dest = fresh("dest");
    expect(await extractArchive(packed.body, dest)).toBe(4);
    const stats = await packed.stats;
    expect(stats).toEqual({ files: 4, bytes: 23, skipped: ["passwd (symlink to /etc/passwd, outside the work dir)"] });
    expect(readFileSync(join(dest, "bin/run.sh"), "utf8")).toBe("#!/bin/sh\necho hi\n");
    expect(lstatSync(join(dest, "bin/run.sh")).mode & 0o777).toBe(0o755);
    expect(lstatSync(join(dest, "secret.key")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dest, "empty"), "utf8")).toBe("");
    expect(lstatSync(join(dest, "emptydir")).isDirectory()).toBe(true);
    expect(readlinkSync(join(dest, "node_modules/.bin/tool"))).toBe("../../lib/tool.js");
    expect(readFileSync(join(dest, "node_modules/.bin/tool"), "utf8")).toBe("tool");
    expect(existsSync(join(dest, "passwd"))).toBe(false);
  });

  test("large files of bytes off the MiB come back byte for byte", async () => {
    const src = fresh("pieces");
    // distinct bytes everywhere, so a piece written at the wrong offset shows; sizes off the MiB
    const files = { "a.bin": 9 * 1024 * 1024 + 77, "b.bin": 3 * 1024 * 1024 - 5, "c.txt": 700 };
    for (const [name, size] of Object.entries(files)) writeFileSync(join(src, name), crypto.getRandomValues(new Uint8Array(size)));
    const dest = fresh("pieces-dest");
    expect(await extractArchive(packArchive(src, Object.keys(files)).body, dest)).toBe(3);
    for (const name of Object.keys(files)) expect(readFileSync(join(dest, name)).equals(readFileSync(join(src, name)))).toBe(true);
  });

  test("an unreadable file fails the archive stream with the cause", async () => {
    const src = fresh("unreadable");
    put(src, { "a.txt": "a" });
    const packed = packArchive(src, ["a.txt", "gone.txt"]);
    await expect(new Response(packed.body).arrayBuffer()).rejects.toThrow();
    await expect(packed.stats).rejects.toThrow(/ENOENT/);
    expect(packed.failure()?.message).toMatch(/ENOENT/);
  });
});

type Entry = Partial<Header> & { name: string; content?: string };

/** A gzipped tar built entry by entry, the way an attacker would. */
function tarball(entries: Entry[]): ReadableStream<Uint8Array> {
  const pack = tar.pack();
  for (const { content, ...header } of entries) pack.entry(header, content ?? "");
  pack.finalize();
  return Readable.toWeb(Readable.from(pack).pipe(createGzip())) as unknown as ReadableStream<Uint8Array>;
}

describe("hostile archives", () => {
  const cases: [string, Entry[]][] = [
    ["an absolute path", [{ name: "/OUTSIDE/pwned", content: "x" }]],
    ["a path with ..", [{ name: "../outside/pwned", content: "x" }]],
    ["a symlink to /etc, then a file through it", [{ name: "etc", type: "symlink", linkname: "/etc" }, { name: "etc/drover-pwned", content: "x" }]],
    ["a relative symlink out, then a file through it", [{ name: "l", type: "symlink", linkname: "../outside" }, { name: "l/pwned", content: "x" }]],
    ["a hardlink to outside", [{ name: "h", type: "link", linkname: "../outside/pwned" }]],
    [
      "a symlink chain, then a file written through the last link",
      [
        { name: "d", type: "directory" },
        { name: "d/l1", type: "symlink", linkname: ".." },
        { name: "l2", type: "symlink", linkname: "d/l1/../outside/pwned" },
        { name: "l2", content: "x" },
      ],
    ],
    ["a link made escaping by a later one", [{ name: "a", type: "symlink", linkname: "x/.." }, { name: "x", type: "symlink", linkname: "." }]],
    ["a character device", [{ name: "null", type: "character-device", devmajor: 1, devminor: 3 }]],
    ["a fifo", [{ name: "pipe", type: "fifo" }]],
  ];
  for (const [what, entries] of cases) {
    test(`${what} is refused and nothing lands outside`, async () => {
      const base = fresh("hostile");
      const dest = join(base, "dest");
      const outside = join(base, "outside");
      mkdirSync(outside);
      const named = entries.map((e) => ({ ...e, name: e.name.replace("/OUTSIDE", outside) }));
      await expect(extractArchive(tarball(named), dest)).rejects.toBeInstanceOf(HostileArchiveError);
      expect(readdirSync(outside)).toEqual([]);
      expect(existsSync("/etc/drover-pwned")).toBe(false);
    });
  }

  test("a link already in the destination is not written through", async () => {
    const base = fresh("prelinked");
    const dest = join(base, "dest");
    mkdirSync(join(base, "outside"));
    mkdirSync(dest);
    symlinkSync("../outside", join(dest, "out"));
    symlinkSync("../outside/file", join(dest, "file"));
    await expect(extractArchive(tarball([{ name: "out/pwned", content: "x" }]), dest)).rejects.toBeInstanceOf(HostileArchiveError);
    // nor are directories made beyond it on the way to a deeper entry
    await expect(extractArchive(tarball([{ name: "out/made/pwned", content: "x" }]), dest)).rejects.toBeInstanceOf(HostileArchiveError);
    // A file entry replaces a link of the same name instead of following it.
    await extractArchive(tarball([{ name: "file", content: "mine" }]), dest);
    expect(readdirSync(join(base, "outside"))).toEqual([]);
    expect(readFileSync(join(dest, "file"), "utf8")).toBe("mine");
  });
});

// Packing and extracting happen in different steps (and usually on different agents): each is measured alone.
test("a 300 MiB file packs, then extracts, each with flat memory", async () => {
  const src = fresh("big");
  const block = crypto.getRandomValues(new Uint8Array(1024 * 1024));
  const fd = openSync(join(src, "big.bin"), "w");
  for (let i = 0; i < 300; i++) writeSync(fd, block);
  closeSync(fd);
  const archive = join(fresh("big-archive"), "big.tar.zst");
  const dest = fresh("big-dest");
  // measured in a process of its own: this one's RSS also holds what earlier test files left running
  const measure = Bun.spawn(["bun", join(import.meta.dir, "../helpers/archive-rss.ts"), src, archive, dest], { stderr: "inherit" });
  expect(await measure.exited).toBe(0);
  const { packing, extracting } = (await new Response(measure.stdout).json()) as { packing: number; extracting: number };
  expect(lstatSync(join(dest, "big.bin")).size).toBe(300 * 1024 * 1024);
  const hash = async (path: string) => {
    const h = new Bun.CryptoHasher("sha256");
    for await (const chunk of Bun.file(path).stream()) h.update(chunk);
    return h.digest("hex");
  };
  expect(await hash(join(dest, "big.bin"))).toBe(await hash(join(src, "big.bin")));
  expect(packing).toBeLessThan(64);
  expect(extracting).toBeLessThan(64);
}, 120_000);
