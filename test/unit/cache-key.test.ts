import { expect, test } from "bun:test";
import { rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type KeyContext, renderCacheKey } from "../../agent/archive/cache-key.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { root: dir } = scratchDirs("drover-cache-key-");
writeFileSync(join(dir, "bun.lock"), "lockfile v1\n");
const LOCK_SHA = new Bun.CryptoHasher("sha256").update("lockfile v1\n").digest("hex");

const ctx: KeyContext = { dir, arch: "arm64", env: { NODE: "22", EMPTY: "" }, now: new Date(Date.UTC(2026, 2, 7, 23, 59)) };

test("renders checksum, arch, os, env and the UTC date", async () => {
  expect(await renderCacheKey('deps-{{ checksum "bun.lock" }}', ctx)).toBe(`deps-${LOCK_SHA}`);
  expect(await renderCacheKey('{{os}}-{{ arch }}-node{{ env "NODE" }}', ctx)).toBe("linux-arm64-node22");
  expect(await renderCacheKey("daily-{{ year }}-{{ month }}-{{ day }}", ctx)).toBe("daily-2026-03-07");
  expect(await renderCacheKey("plain-key", ctx)).toBe("plain-key");
});

test("a value containing braces is taken as is", async () => {
  expect(await renderCacheKey('x-{{ env "B" }}', { ...ctx, env: { B: "{{ y }}" } })).toBe("x-{{ y }}");
});

test("a missing checksum file is an error naming it", async () => {
  await expect(renderCacheKey('deps-{{ checksum "package-lock.json" }}', ctx)).rejects.toThrow(
    'cache key "deps-{{ checksum "package-lock.json" }}": {{ checksum "package-lock.json" }}: package-lock.json is not a file in the work dir',
  );
  await expect(renderCacheKey('{{ checksum "." }}', ctx)).rejects.toThrow(/is not a file/);
});

test("an unset variable is an error, an empty one is not", async () => {
  await expect(renderCacheKey('k-{{ env "NOPE" }}', ctx)).rejects.toThrow(/NOPE is not set/);
  expect(await renderCacheKey('k-{{ env "EMPTY" }}', ctx)).toBe("k-");
});

test("unknown or malformed templates are clear errors", async () => {
  await expect(renderCacheKey("k-{{ branch }}", ctx)).rejects.toThrow(/unknown template \{\{ branch \}\} \(known: /);
  await expect(renderCacheKey("k-{{ checksum }}", ctx)).rejects.toThrow(/unknown template \{\{ checksum \}\}/);
  await expect(renderCacheKey('k-{{ arch "x" }}', ctx)).rejects.toThrow(/unknown template/);
  await expect(renderCacheKey("k-{{ arch", ctx)).rejects.toThrow(/unbalanced/);
  await expect(renderCacheKey("k-}}", ctx)).rejects.toThrow(/unbalanced/);
  await expect(renderCacheKey('{{ env "EMPTY" }}', ctx)).rejects.toThrow(/empty key/);
});

test("checksum reads only files inside the work dir: no absolute paths, no '..', no symlink out", async () => {
  const outside = join(dir, "..", `outside-${process.pid}.txt`);
  writeFileSync(outside, "secret\n");
  symlinkSync(outside, join(dir, "link-out"));
  try {
    for (const file of ["/etc/hostname", `../outside-${process.pid}.txt`, "link-out"]) {
      await expect(renderCacheKey(`k-{{ checksum "${file}" }}`, ctx)).rejects.toThrow(/outside the work dir/);
    }
  } finally {
    rmSync(outside, { force: true });
    rmSync(join(dir, "link-out"), { force: true });
  }
});
