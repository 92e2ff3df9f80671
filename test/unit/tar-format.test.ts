import { describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDirs } from "../helpers/scratch.ts";
import { Readable } from "node:stream";
import { createZstdCompress } from "node:zlib";
import { extractArchive } from "../../agent/archive/extract.ts";
import { expandGlobs } from "../../agent/archive/globs.ts";
import { packArchive } from "../../agent/archive/pack.ts";

const ROOT = join(import.meta.dir, "../..");
const { root: scratch, fresh } = scratchDirs("drover-tar-format-");

// Past ustar's 100-byte name field, and past its 155-byte prefix too.
const LONG_DIR = "a-directory-with-a-rather-long-name/".repeat(5);
const LONG_FILE = `${LONG_DIR}and-a-file-with-a-long-name-${"x".repeat(120)}.txt`;

/** A tree with long and non-ASCII names, a long link target, an empty dir and a 3 MiB file (several frames). */
function sampleTree(): string {
  const dir = fresh("tree");
  const block = crypto.getRandomValues(new Uint8Array(65536));
  const files: Record<string, string | Uint8Array> = {
    "short.txt": "short\n",
    [LONG_FILE]: "long\n",
    "ünïcødé/файл.txt": "unicode\n",
    "big.bin": Buffer.concat(Array.from({ length: 48 }, () => block)),
  };
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  mkdirSync(join(dir, "empty"));
  mkdirSync(join(dir, "links"));
  symlinkSync(`../${LONG_FILE}`, join(dir, "links/to-long"));
  return dir;
}

/** Every entry under `dir`: file contents, link targets and directories, by relative path. */
function snapshot(dir: string, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = lstatSync(join(dir, rel));
    if (st.isSymbolicLink()) out[rel] = `-> ${readlinkSync(join(dir, rel))}`;
    else if (st.isDirectory()) {
      out[rel] = "dir";
      Object.assign(out, snapshot(dir, rel));
    } else out[rel] = Bun.hash(readFileSync(join(dir, rel))).toString(16);
  }
  return out;
}

const packed = async (dir: string) =>
  new Uint8Array(await new Response(packArchive(dir, expandGlobs(dir, ["**"]).paths).body).arrayBuffer());
const streamOf = (bytes: Uint8Array) => new Response(bytes as Uint8Array<ArrayBuffer>).body!;

function tar(args: string[], cwd = scratch): void {
  const run = Bun.spawnSync(["tar", ...args], { cwd, stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`tar ${args.join(" ")}: ${run.stderr.toString()}`);
}

describe("the archive format", () => {
  test("long and non-ASCII names and long link targets round-trip, and GNU tar reads the archive", async () => {
    const src = sampleTree();
    const archive = await packed(src);
    expect(archive.subarray(0, 4)).toEqual(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]));
    const dest = fresh("ours");
    expect(await extractArchive(streamOf(archive), dest)).toBe(4);
    expect(snapshot(dest)).toEqual(snapshot(src));
    // Concatenated zstd frames are one zstd stream; inside is a plain tar that GNU tar extracts the same way.
    const tarFile = join(fresh("plain"), "archive.tar");
    writeFileSync(tarFile, Bun.zstdDecompressSync(archive));
    const byTar = fresh("gnu-extract");
    tar(["-xf", tarFile, "-C", byTar]);
    expect(snapshot(byTar)).toEqual(snapshot(src));
  });

  for (const format of ["gnu", "pax"]) {
    test(`archives GNU tar writes in ${format} format extract, gzipped or plain`, async () => {
      const src = sampleTree();
      const out = fresh(`by-tar-${format}`);
      tar([`--format=${format}`, "-cf", join(out, "a.tar"), "-C", src, "."]);
      tar([`--format=${format}`, "-czf", join(out, "a.tar.gz"), "-C", src, "."]);
      for (const file of ["a.tar", "a.tar.gz"]) {
        const dest = fresh(`from-${file}`);
        await extractArchive(Bun.file(join(out, file)).stream(), dest);
        expect(snapshot(dest)).toEqual(snapshot(src));
      }
    });
  }

  test("a zstd stream in one frame of undeclared size (a streaming compressor's) extracts through the streaming path", async () => {
    const src = sampleTree();
    const tarFile = join(fresh("one-frame"), "a.tar");
    tar(["-cf", tarFile, "-C", src, "."]);
    const compressed = Readable.toWeb(
      Readable.from([readFileSync(tarFile)]).pipe(createZstdCompress()),
    ) as unknown as ReadableStream<Uint8Array>;
    const dest = fresh("from-one-frame");
    await extractArchive(compressed, dest);
    expect(snapshot(dest)).toEqual(snapshot(src));
  });

  test("a cut archive fails rather than extracting part of it quietly", async () => {
    const src = sampleTree();
    const archive = await packed(src);
    await expect(
      extractArchive(streamOf(archive.subarray(0, Math.floor(archive.length / 2))), fresh("cut-zstd")),
    ).rejects.toThrow();
    const plain = Bun.zstdDecompressSync(archive);
    // big.bin is most of the archive
    await expect(extractArchive(streamOf(plain.subarray(0, plain.length / 2)), fresh("cut-plain"))).rejects.toThrow(
      /ends in the middle of "big.bin"/,
    );
  });

  test("a damaged header is reported as not a tar archive", async () => {
    const plain = Bun.zstdDecompressSync(await packed(sampleTree()));
    plain[10] = plain[10]! ^ 0xff;
    await expect(extractArchive(streamOf(plain), fresh("damaged"))).rejects.toThrow(
      /not a valid tar archive: a header is damaged/,
    );
  });

  test("a global pax header, as git archive writes one, describes the archive and is not extracted", async () => {
    const out = fresh("git");
    const run = Bun.spawnSync([
      "git",
      "-C",
      ROOT,
      "archive",
      "--format=tar",
      "-o",
      join(out, "a.tar"),
      "HEAD",
      "--",
      "README.md",
    ]);
    if (run.exitCode !== 0) throw new Error(run.stderr.toString());
    const dest = fresh("from-git");
    expect(await extractArchive(Bun.file(join(out, "a.tar")).stream(), dest)).toBe(1);
    expect(readdirSync(dest)).toEqual(["README.md"]);
  });
});
