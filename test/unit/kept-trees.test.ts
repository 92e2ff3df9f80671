import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeptTrees } from "../../agent/checkout/kept-trees.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-kept-trees-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a git that never ends while a tree is kept is ended: the tree is not kept, and the next checkout does not wait for it", async () => {
  // a git that hangs, first on PATH while the tree is kept
  const bin = join(dir, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "git"), "#!/bin/sh\nexec sleep 30\n");
  chmodSync(join(bin, "git"), 0o755);
  const attempt = join(dir, "attempt");
  const target = join(attempt, "src");
  mkdirSync(join(target, ".git"), { recursive: true });
  writeFileSync(join(target, ".git", "index"), "an index");
  writeFileSync(join(target, "a.txt"), "a\n");
  const pool = KeptTrees.of({ dir: join(dir, "pool"), perRepository: 1, budgetBytes: 1 << 30, gitTimeoutMs: 300 })!;
  const tree = pool.reserve("repo", target, "a".repeat(40))!;
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  const started = Date.now();
  let why: string | null;
  try {
    why = await tree.keep(attempt);
  } finally {
    process.env.PATH = path;
  }
  // before, the keep (and every later checkout of the repository, waiting for it) lasted as long as the git did
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(why).toMatch(/^the work tree is not kept: git \S+ took longer than 0.3 s$/);
  expect(await pool.take("repo")).toBeNull();
}, 20_000);
