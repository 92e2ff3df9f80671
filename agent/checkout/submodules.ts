import { existsSync } from "node:fs";
import { join } from "node:path";
import { assertAllowed } from "./allowed.ts";
import { type GitAccess, withoutCredentials } from "./git.ts";

/** `key value` lines of `git config --get-regexp` as pairs; none when nothing matches. */
async function configPairs(git: GitAccess, dir: string, args: string[]): Promise<[string, string][]> {
  if (!(await git.ok(["config", ...args], dir))) return [];
  const out = await git.git(["config", ...args], dir);
  return out
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const at = line.indexOf(" ");
      return [line.slice(0, at), line.slice(at + 1)];
    });
}

/**
 * Checks out the submodules of the clone at `dir`, one level at a time so that every submodule's URL
 * (relative ones resolved against the parent's origin by `submodule init`) is matched against
 * `--allowed-repos` before git fetches it. The credentials apply to submodules on the repository's host.
 */
export async function updateSubmodules(git: GitAccess, dir: string, allowedRepos: string | null): Promise<number> {
  if (!existsSync(join(dir, ".gitmodules"))) return 0;
  await git.git(["submodule", "init", "--quiet"], dir);
  for (const [key, url] of await configPairs(git, dir, ["--get-regexp", "^submodule\\..*\\.url$"])) {
    assertAllowed(withoutCredentials(url), allowedRepos, `submodule ${key.slice("submodule.".length, -".url".length)}; `);
  }
  await git.git(["submodule", "update", "--quiet"], dir);
  let count = 0;
  for (const [, path] of await configPairs(git, dir, ["-f", ".gitmodules", "--get-regexp", "^submodule\\..*\\.path$"])) {
    count += 1 + (await updateSubmodules(git, join(dir, path), allowedRepos));
  }
  return count;
}
