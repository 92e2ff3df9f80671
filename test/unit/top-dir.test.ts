import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { markTopDir } from "../../agent/runner/top-dir.ts";

const base = mkdtempSync(join(tmpdir(), "drover-topdir-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const run = (cmd: string[]) => {
  const out = Bun.spawnSync(cmd);
  if (out.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${out.stderr.toString()}`);
  return out.stdout.toString().trim();
};

test("a work dir on ext2/3/4 gets the top-dir flag (chattr +T), once; elsewhere nothing happens", () => {
  const dir = join(base, "attempts");
  mkdirSync(dir);
  const extFamily = run(["stat", "-f", "-c", "%T", dir]) === "ext2/ext3";
  expect(markTopDir(dir)).toBe(extFamily);
  // set already: says so again without changing anything
  expect(markTopDir(dir)).toBe(extFamily);
  if (extFamily) expect(run(["lsattr", "-d", dir]).split(/\s+/)[0]).toContain("T");
});

test("filesystems without the flag and missing dirs are refused quietly", () => {
  expect(markTopDir(join(base, "missing"))).toBe(false);
  // /proc has no such flags: the ioctl fails and says no
  expect(markTopDir("/proc/self")).toBe(false);
});
