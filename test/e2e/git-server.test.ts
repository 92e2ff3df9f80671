import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runGit, startGitServer } from "../helpers/git-server";
import { scratchDirs } from "../helpers/scratch";

const server = startGitServer();
const dirs = scratchDirs("drover-git-server-test-");
afterAll(() => server.stop());

test("a private repository needs the token to fetch; pushes need it always; public ones clone freely", async () => {
  const privateUrl = server.createRepo("org/secret.git", { private: true });
  const publicUrl = server.createRepo("org/open.git");
  const sha = await server.commit("org/secret.git", { "a/b.txt": "hello\n" }, { message: "first" });
  await server.commit("org/open.git", { "README.md": "open\n" });
  expect((await fetch(`${privateUrl}/info/refs?service=git-upload-pack`)).status).toBe(401);
  await expect(runGit(["clone", "-q", privateUrl, dirs.fresh("no-token")])).rejects.toThrow(
    /401|Authentication failed|could not read Username/,
  );
  const clone = dirs.fresh("with-token");
  await runGit(["clone", "-q", privateUrl, clone], { env: server.authEnv() });
  expect(readFileSync(join(clone, "a/b.txt"), "utf8")).toBe("hello\n");
  expect((await runGit(["rev-parse", "HEAD"], { cwd: clone })).trim()).toBe(sha);
  const open = dirs.fresh("public");
  await runGit(["clone", "-q", publicUrl, open]);
  await runGit(["commit", "-q", "--allow-empty", "-m", "x"], { cwd: open });
  await expect(runGit(["push", "-q", "origin", "HEAD:main"], { cwd: open })).rejects.toThrow();
  expect(server.requests.some((r) => r.service === "git-receive-pack" && r.status === 401)).toBe(true);
  expect(server.requests.some((r) => r.path.startsWith("/org/secret.git/") && r.authorized && r.status === 200)).toBe(true);
});

test("a branch, a tag and a shallow fetch of one sha over HTTP", async () => {
  const url = server.createRepo("deep.git", { private: true });
  const first = await server.commit("deep.git", { "f.txt": "1" });
  const feature = await server.commit("deep.git", { "f.txt": "2" }, { branch: "feature/x" });
  await server.git("deep.git", "tag", "v1", first);
  await server.git("deep.git", "push", "-q", "origin", "v1");
  const refs = await runGit(["ls-remote", url], { env: server.authEnv() });
  expect(refs).toContain(`${feature}\trefs/heads/feature/x`);
  expect(refs).toContain(`${first}\trefs/tags/v1`);
  const dir = dirs.fresh("shallow");
  await runGit(["init", "-q", dir]);
  await runGit(["fetch", "-q", "--depth=1", url, first], { cwd: dir, env: server.authEnv() });
  expect((await runGit(["rev-parse", "FETCH_HEAD"], { cwd: dir })).trim()).toBe(first);
});
