import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { git } from "../../coordinator/projects/git.ts";
import { Mirror } from "../../coordinator/projects/mirror.ts";

const root = mkdtempSync(join(tmpdir(), "drover-mirror-upkeep-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Contents whose blobs land in objects/17/, the one directory `gc --auto` counts loose objects in. */
function contentsIn17(count: number): string[] {
  const found: string[] = [];
  for (let i = 0; found.length < count; i++) {
    const text = `file ${i}\n`;
    const sha = new Bun.CryptoHasher("sha1").update(`blob ${text.length}\0${text}`).digest("hex");
    if (sha.startsWith("17")) found.push(text);
  }
  return found;
}

test("git's upkeep of a mirror still runs after a fetch, once the operation that fetched is done", async () => {
  const source = join(root, "source");
  await git(["init", "-q", "-b", "main", source]);
  for (const [i, text] of contentsIn17(3).entries()) writeFileSync(join(source, `f${i}`), text);
  await git(["add", "-A"], { cwd: source });
  await git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "files"], { cwd: source });
  const mirror = new Mirror(join(root, "mirror"), () => ({ url: source, credentials: null }));
  await mirror.fetch(["+refs/heads/main:refs/heads/main"]);
  // the upkeep that fetch queued, done before the settings below
  await mirror.exclusive(async () => {});
  // a small fetch leaves its objects loose; with gc.auto at 1, three of them in objects/17 call for a repack (here
  // in the foreground, which git's upkeep would do in a process of its own otherwise)
  await git(["config", "gc.auto", "1"], { cwd: mirror.dir });
  await git(["config", "gc.autoDetach", "false"], { cwd: mirror.dir });
  const loose = () => (existsSync(join(mirror.dir, "objects", "17")) ? readdirSync(join(mirror.dir, "objects", "17")).length : 0);
  await mirror.exclusive(async () => {
    await mirror.fetch(["+refs/heads/main:refs/heads/main"]);
    // within the operation, git's upkeep has not run
    expect(loose()).toBe(3);
  });
  await mirror.exclusive(async () => {});
  expect(loose()).toBe(0);
  expect(readdirSync(join(mirror.dir, "objects", "pack")).some((f) => f.endsWith(".pack"))).toBe(true);
});
