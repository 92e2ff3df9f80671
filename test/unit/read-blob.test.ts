import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { git, readBlob } from "../../coordinator/projects/git.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-read-blob-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// bytes past a pipe's buffer, some of them not ASCII, and a line feed inside
const big = `${"é ✓ line\n".repeat(40_000)}end`;

async function commit(): Promise<string> {
  await git(["init", "-q", dir]);
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "sub", "f"), "in a directory\n");
  writeFileSync(join(dir, "big.txt"), big);
  writeFileSync(join(dir, "empty"), "");
  await git(["add", "-A"], { cwd: dir });
  await git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "files"], { cwd: dir });
  return (await git(["rev-parse", "HEAD"], { cwd: dir })).stdout.trim();
}

test("a blob at a commit is read whole by one cat-file; a missing path or a directory is none; over the bound, only its size", async () => {
  const sha = await commit();
  const bytes = Buffer.byteLength(big);
  expect(await readBlob(dir, `${sha}:big.txt`, bytes)).toEqual({ text: big });
  expect(await readBlob(dir, `${sha}:empty`, 10)).toEqual({ text: "" });
  expect(await readBlob(dir, `${sha}:sub/f`, 100)).toEqual({ text: "in a directory\n" });
  expect(await readBlob(dir, `${sha}:big.txt`, bytes - 1)).toEqual({ tooLarge: bytes });
  expect(await readBlob(dir, `${sha}:nothing.yml`, 100)).toBeUndefined();
  expect(await readBlob(dir, `${sha}:sub`, 100)).toBeUndefined();
  expect(await readBlob(dir, `${"1".repeat(40)}:big.txt`, 100)).toBeUndefined();
});
