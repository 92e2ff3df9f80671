import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CheckoutOptions, checkout } from "../../agent/checkout/checkout.ts";
import type { CheckoutSpec } from "../../shared/protocol/index.ts";
import { checkoutSpec, runGit, startGitServer } from "../helpers/git-server.ts";
import { scratchDirs } from "../helpers/scratch.ts";
import { startSshServer } from "../helpers/ssh-server.ts";
import { sampleCmdlines, tokenForms } from "../helpers/token-leaks.ts";

const server = startGitServer();
const dirs = scratchDirs("drover-checkout-test-");
afterAll(() => server.stop());

const spec = (url: string, sha: string, more: Partial<CheckoutSpec> = {}) => checkoutSpec(server, url, sha, more);
const options = (mirrorsDir = dirs.fresh("mirrors"), more: Partial<CheckoutOptions> = {}): CheckoutOptions => ({
  mirrorsDir,
  budgetBytes: 10 * 1024 ** 3,
  allowedRepos: null,
  lockTimeoutMs: 10_000,
  kept: { dir: dirs.fresh("kept"), perRepository: 0, budgetBytes: 1024 ** 3 },
  ...more,
});
const head = async (dir: string) => (await runGit(["rev-parse", "HEAD"], { cwd: dir })).trim();
async function run(s: CheckoutSpec, opts: CheckoutOptions, dir = dirs.fresh("work")) {
  const lines: string[] = [];
  await checkout(s, dir, opts, (l) => lines.push(l));
  return { dir, log: lines.join("\n") };
}
/** Every file under dir (with .git) whose bytes contain the needle. */
function filesHolding(dir: string, needle: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && readFileSync(join(e.parentPath, e.name)).includes(needle))
    .map((e) => join(e.parentPath, e.name));
}

test("the exact commit through the mirror; a later checkout fetches only what it lacks; the token is in no file", async () => {
  const url = server.createRepo("acme/app.git", { private: true });
  const first = await server.commit("acme/app.git", { "src/main.ts": "one\n" });
  const second = await server.commit("acme/app.git", { "src/main.ts": "two\n" });
  const opts = options();
  const a = await run(spec(url, first), opts);
  expect(await head(a.dir)).toBe(first);
  expect(readFileSync(join(a.dir, "src/main.ts"), "utf8")).toBe("one\n");
  expect(a.log).toContain("fetched refs/heads/main into the mirror");
  expect((await runGit(["remote", "get-url", "origin"], { cwd: a.dir })).trim()).toBe(url);
  expect(filesHolding(a.dir, server.token)).toEqual([]);
  expect(filesHolding(opts.mirrorsDir, server.token)).toEqual([]);
  // the mirror already holds `second` (fetched with main): no request reaches the server
  const before = server.requests.length;
  const b = await run(spec(url, second), opts);
  expect(await head(b.dir)).toBe(second);
  expect(b.log).toContain("the mirror has the commit already");
  expect(server.requests.length).toBe(before);
  const third = await server.commit("acme/app.git", { "src/main.ts": "three\n" });
  const c = await run(spec(url, third, { path: "deep/app" }), opts);
  expect(await head(join(c.dir, "deep/app"))).toBe(third);
  // one fetch session (one ref advertisement); protocol v2 names the wanted ref in the request body
  expect(
    server.requests.slice(before).filter((r) => r.path.endsWith("/info/refs") && r.service === "git-upload-pack").length,
  ).toBe(1);
});

test("a commit fetched by its sha alone leaves a ref in the mirror: the next such fetch gets only what is new", async () => {
  const url = server.createRepo("acme/bysha.git", { private: true });
  const files: Record<string, string> = {};
  for (let i = 0; i < 300; i++) files[`f${i}.txt`] = `file ${i}\n`;
  const first = await server.commit("acme/bysha.git", files);
  const second = await server.commit("acme/bysha.git", { "f1.txt": "changed\n" });
  const opts = options();
  await run(spec(url, first, { ref: null }), opts);
  const mirror = join(opts.mirrorsDir, readdirSync(opts.mirrorsDir).find((n) => n.endsWith(".git"))!);
  const packs = () => readdirSync(join(mirror, "objects", "pack")).filter((n) => n.endsWith(".pack")).length;
  expect(packs()).toBe(1);
  const b = await run(spec(url, second, { ref: null }), opts);
  expect(await head(b.dir)).toBe(second);
  // three objects (commit, tree, blob) come loose; the whole history again would have come as a second pack
  expect(packs()).toBe(1);
});

test("the loose objects of many small fetches are packed once they pass 256: a clone hard-links a file for each", async () => {
  const url = server.createRepo("acme/loose.git", { private: true });
  const opts = options();
  const loose = () => {
    const mirror = join(opts.mirrorsDir, readdirSync(opts.mirrorsDir).find((n) => n.endsWith(".git"))!);
    return readdirSync(join(mirror, "objects"), { recursive: true }).filter((p) => /^[0-9a-f]{2}\/[0-9a-f]{38}$/.test(String(p))).length;
  };
  const counts: number[] = [];
  for (let c = 0; c < 4; c++) {
    // 95 new files a commit: under git's unpack limit (100 objects), so each fetch leaves them loose
    const files: Record<string, string> = {};
    for (let i = 0; i < 95; i++) files[`c${c}/f${i}.txt`] = `commit ${c} file ${i}\n`;
    const sha = await server.commit("acme/loose.git", files);
    await run(spec(url, sha), opts);
    counts.push(loose());
  }
  // 98 objects a commit (95 blobs, 2 trees, the commit): the third fetch passes 256 and all is packed
  expect(counts).toEqual([98, 196, 0, 98]);
  const mirror = join(opts.mirrorsDir, readdirSync(opts.mirrorsDir).find((n) => n.endsWith(".git"))!);
  await runGit(["--git-dir", mirror, "fsck", "--no-progress", "--strict"]);
});

test("a token written into the URL is taken out of it before git runs: not on a command line, not in the clone", async () => {
  const url = server.createRepo("acme/inline.git", { private: true });
  const sha = await server.commit("acme/inline.git", { "i.txt": "inline\n" });
  const withToken = url.replace("http://", `http://x-access-token:${server.token}@`);
  const sampler = sampleCmdlines(tokenForms(server.token));
  const a = await run(spec(withToken, sha, { credentials: null }), options());
  expect(sampler.stop()).toEqual([]);
  expect(await head(a.dir)).toBe(sha);
  expect(a.log).toContain(`checkout: ${url} at ${sha}`);
  expect(a.log).not.toContain(server.token);
  expect((await runGit(["remote", "get-url", "origin"], { cwd: a.dir })).trim()).toBe(url);
  expect(filesHolding(a.dir, server.token)).toEqual([]);
});

test("a remote that echoes the credentials back has them redacted in the task's error", async () => {
  // answers every request 401, with the Authorization header it got, decoded, in a text body git prints
  const echo = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const auth = req.headers.get("authorization") ?? "";
      const decoded = Buffer.from(auth.replace(/^Basic /, ""), "base64").toString();
      return new Response(`you sent ${auth} which is ${decoded}\n`, { status: 401, headers: { "content-type": "text/plain" } });
    },
  });
  try {
    const url = `http://127.0.0.1:${echo.port}/acme/echo.git`;
    const error = await run(spec(url, "a".repeat(40)), options()).catch((e: Error) => e.message);
    expect(error).toContain(`checkout of ${url} failed: remote: you sent Basic [REDACTED] which is x-access-token:[REDACTED]`);
    for (const form of tokenForms(server.token)) expect(error).not.toContain(form);
  } finally {
    void echo.stop(true);
  }
});

test("pull request heads, a shallow depth, and nested submodules on the same host with the same token", async () => {
  const deepUrl = server.createRepo("acme/deep.git", { private: true });
  await server.commit("acme/deep.git", { "deep.txt": "deep\n" });
  const subUrl = server.createRepo("acme/lib.git", { private: true });
  await server.commit("acme/lib.git", { "lib.txt": "library\n" });
  await server.git("acme/lib.git", "submodule", "add", "-q", deepUrl, "sub/deep");
  await server.commit("acme/lib.git", {}, { message: "add deep" });
  const url = server.createRepo("acme/pr.git", { private: true });
  await server.commit("acme/pr.git", { "a.txt": "a\n" });
  await server.git("acme/pr.git", "submodule", "add", "-q", subUrl, "vendor/lib");
  const withSub = await server.commit("acme/pr.git", { "b.txt": "b\n" }, { message: "add lib" });
  await server.git("acme/pr.git", "push", "-q", "origin", "HEAD:refs/pull/7/head");
  const opts = options();
  const pr = await run(spec(url, withSub, { ref: "refs/pull/7/head", submodules: true }), opts);
  expect(await head(pr.dir)).toBe(withSub);
  expect(readFileSync(join(pr.dir, "vendor/lib/lib.txt"), "utf8")).toBe("library\n");
  expect(readFileSync(join(pr.dir, "vendor/lib/sub/deep/deep.txt"), "utf8")).toBe("deep\n");
  expect(pr.log).toContain("checkout: 2 submodule(s) checked out");
  expect(filesHolding(pr.dir, server.token)).toEqual([]);
  // --allowed-repos applies to every submodule, also nested ones, before git fetches it
  const only = (names: string) => `${server.url.replaceAll(".", "\\.")}/acme/(${names})\\.git`;
  await expect(run(spec(url, withSub, { ref: "refs/pull/7/head", submodules: true }), options(undefined, { allowedRepos: only("pr") }))).rejects.toThrow(
    `checkout: this agent may not clone ${subUrl} (submodule vendor/lib; --allowed-repos ${only("pr")})`,
  );
  const nested = run(spec(url, withSub, { ref: "refs/pull/7/head", submodules: true }), options(undefined, { allowedRepos: only("pr|lib") }));
  await expect(nested).rejects.toThrow(`checkout: this agent may not clone ${deepUrl} (submodule sub/deep; --allowed-repos`);
  const shallow = await run(spec(url, withSub, { depth: 1 }), options());
  expect(await head(shallow.dir)).toBe(withSub);
  expect((await runGit(["rev-parse", "--is-shallow-repository"], { cwd: shallow.dir })).trim()).toBe("true");
  expect(existsSync(join(shallow.dir, "vendor/lib/lib.txt"))).toBe(false);
});

test("a force-pushed-away sha, a wrong token, a refused repository and a bad path are clear errors", async () => {
  const url = server.createRepo("acme/force.git", { private: true });
  await server.commit("acme/force.git", { "x.txt": "1\n" });
  const gone = await server.commit("acme/force.git", { "x.txt": "2\n" });
  await server.git("acme/force.git", "reset", "-q", "--hard", "HEAD~1");
  await server.git("acme/force.git", "commit", "-q", "--allow-empty", "-m", "rewritten");
  await server.git("acme/force.git", "push", "-q", "-f", "origin", "HEAD:main");
  await server.commit("acme/force.git", { "x.txt": "4\n" });
  await expect(run(spec(url, gone), options())).rejects.toThrow(`commit ${gone} is not in refs/heads/main any more`);
  const wrong = "wrong-token-0123456789";
  const bad = run(spec(url, gone, { credentials: { kind: "token", username: "x", token: wrong } }), options());
  await expect(bad).rejects.toThrow(/checkout of .* failed: [\s\S]*Authentication failed/);
  await bad.catch((e) => expect(String(e.message)).not.toContain(wrong));
  await expect(run(spec(url, gone), options(undefined, { allowedRepos: "https://github\\.com/acme/.*" }))).rejects.toThrow(
    `this agent may not clone ${url} (--allowed-repos https://github\\.com/acme/.*)`,
  );
  await expect(run(spec(url, gone, { path: "../out" }), options())).rejects.toThrow('path "../out" is outside the work dir');
  await expect(run(spec(url, "--upload-pack=touch /tmp/x"), options())).rejects.toThrow("is not a full commit sha");
});

test("a busy mirror lock falls back to a plain clone; two checkouts sharing a mirror both get their commit", async () => {
  const url = server.createRepo("acme/busy.git", { private: true });
  const one = await server.commit("acme/busy.git", { "f.txt": "1\n" });
  const two = await server.commit("acme/busy.git", { "f.txt": "2\n" }, { branch: "other" });
  const mirrors = dirs.fresh("shared-mirrors");
  // two "agents" (separate option objects, one dir) at once: the lock serialises their fetches
  const [a, b] = await Promise.all([
    run(spec(url, one), options(mirrors)),
    run(spec(url, two, { ref: "refs/heads/other" }), options(mirrors)),
  ]);
  expect([await head(a.dir), await head(b.dir)]).toEqual([one, two]);
  const lockFile = `${join(mirrors, readdirSync(mirrors).find((n) => n.endsWith(".git"))!)}.lock`;
  const holder = Bun.spawn(["flock", lockFile, "sleep", "30"], { stdout: "ignore" });
  await Bun.sleep(200);
  try {
    const c = await run(spec(url, two, { ref: "refs/heads/other" }), options(mirrors, { lockTimeoutMs: 300 }));
    expect(await head(c.dir)).toBe(two);
    expect(c.log).toContain("the mirror is busy after 0.3 s; cloning from the remote instead");
  } finally {
    holder.kill();
  }
});

test("mirrors beyond the budget are removed least recently used first, never the one just used", async () => {
  const mirrors = dirs.fresh("budget-mirrors");
  const urls = ["acme/p1.git", "acme/p2.git", "acme/p3.git"].map((n) => server.createRepo(n));
  const shas = await Promise.all(["acme/p1.git", "acme/p2.git", "acme/p3.git"].map((n) => server.commit(n, { "x.txt": n })));
  for (const i of [0, 1]) await run(spec(urls[i]!, shas[i]!, { credentials: null }), options(mirrors));
  // the budget counts the bytes of the mirrors' files
  const size = (n: string) =>
    readdirSync(join(mirrors, n), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .reduce((sum, e) => sum + statSync(join(e.parentPath, e.name)).size, 0);
  const names = readdirSync(mirrors).filter((n) => n.endsWith(".git"));
  const one = Math.max(...names.map(size));
  // room for about two mirrors: the third checkout drops p1 (least recently used), keeps p2 and p3
  const c = await run(spec(urls[2]!, shas[2]!, { credentials: null }), options(mirrors, { budgetBytes: Math.floor(one * 2.5) }));
  expect(c.log).toContain("removed 1 least recently used mirror(s)");
  const left = readdirSync(mirrors).filter((n) => n.endsWith(".git"));
  expect(left.some((n) => n.startsWith("p1-"))).toBe(false);
  expect(left.filter((n) => n.startsWith("p2-") || n.startsWith("p3-")).length).toBe(2);
  // the checkout made from a mirror that is then removed keeps working (its objects were hardlinked, not borrowed)
  const d = await run(spec(urls[0]!, shas[0]!, { credentials: null }), options(mirrors, { budgetBytes: 1 }));
  expect(readdirSync(mirrors).filter((n) => n.endsWith(".git")).length).toBe(1);
  expect(await head(d.dir)).toBe(shas[0]!);
  expect(existsSync(join(mirrors, left.find((n) => n.startsWith("p3-"))!))).toBe(false);
  await runGit(["fsck", "--no-progress", "--strict"], { cwd: c.dir });
  expect((await runGit(["cat-file", "-t", shas[2]!], { cwd: c.dir })).trim()).toBe("commit");
});

test.skipIf(!existsSync("/usr/sbin/sshd"))("over SSH with a deploy key: the key is a 0600 file outside the work dir only while git runs, never on a command line", async () => {
  const sshd = await startSshServer();
  // the key's dir goes under a temp dir of this test's own: other test files, run at once, make key dirs in the
  // machine's (a coordinator polling a project with a deploy key, say)
  const keyTmp = mkdtempSync(join(tmpdir(), "checkout-keys-"));
  const machineTmp = process.env.TMPDIR;
  process.env.TMPDIR = keyTmp;
  try {
    server.createRepo("acme/ssh.git");
    const sha = await server.commit("acme/ssh.git", { "s.txt": "over ssh\n" });
    const url = sshd.urlFor(server.repoDir("acme/ssh.git"));
    const keyBody = sshd.deployKey.split("\n")[1]!;
    const keyDirs = () => readdirSync(keyTmp).filter((n) => n.startsWith("drover-ssh-"));
    const sampler = sampleCmdlines([keyBody]);
    // the modes of the key's dir and file, seen while the checkout runs
    const modes = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const d of keyDirs()) {
          try {
            const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
            modes.add(`${mode(join(keyTmp, d))} ${mode(join(keyTmp, d, "key"))}`);
          } catch {
            // not written yet, or removed already
          }
        }
        await Bun.sleep(1);
      }
    })();
    const a = await run(spec(url, sha, { credentials: { kind: "ssh", privateKey: sshd.deployKey } }), options());
    watching = false;
    await watcher;
    expect(sampler.stop()).toEqual([]);
    expect([...modes]).toEqual(["700 600"]);
    expect(await head(a.dir)).toBe(sha);
    expect(readFileSync(join(a.dir, "s.txt"), "utf8")).toBe("over ssh\n");
    expect(filesHolding(a.dir, keyBody)).toEqual([]);
    expect(keyDirs()).toEqual([]);
    // the origin keeps the SSH login (only HTTP users can be tokens)
    expect((await runGit(["remote", "get-url", "origin"], { cwd: a.dir })).trim()).toBe(url);
    // a key the server does not know: refused, and the task's error says so
    const stranger = { kind: "ssh" as const, privateKey: sshd.strangerKey };
    await expect(run(spec(url, sha, { credentials: stranger }), options())).rejects.toThrow(
      `${sshd.user}@127.0.0.1: Permission denied (publickey)`,
    );
    expect(keyDirs()).toEqual([]);
  } finally {
    if (machineTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = machineTmp;
    rmSync(keyTmp, { recursive: true, force: true });
    await sshd.stop();
  }
});