import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Assignment, CheckoutSpec } from "../../shared/protocol/index.ts";
import { ROOT } from "../helpers/cluster.ts";
import { assignmentOf, startFakeCoordinator } from "../helpers/fake-coordinator.ts";
import { checkoutSpec, runGit, startGitServer } from "../helpers/git-server.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";
import { scratchDirs } from "../helpers/scratch.ts";
import { STEP_USER } from "../helpers/unprivileged-agent.ts";
import { checkout } from "../../agent/checkout/checkout.ts";

// Real agent processes keep the work tree of each checkout and bring it to the next commit. Whatever the step did
// to the tree, the next attempt's tree is what a fresh clone of its commit gives, file for file, byte for byte, mode
// for mode and owner for owner (or the checkout starts afresh).
const server = startGitServer();
const coordinator = startFakeCoordinator();
const dirs = scratchDirs("drover-kept-checkout-");
// a step run as STEP_USER passes through to its attempt's dir
chmodSync(dirs.root, 0o711);
afterAll(async () => {
  await stopAll();
  coordinator.stop();
  await server.stop();
});

async function startAgent(name: string, flags: string[] = []) {
  const work = dirs.fresh(name);
  const proc = spawnTracked(["bun", "agent/main.ts", "--coordinator", coordinator.url, "--token", "t", "--name", name, "--work-dir", work, ...flags], {
    cwd: ROOT,
  });
  const err = captureOutput(proc.stderr);
  coordinator.outputOf(name, err.text);
  await waitFor(`agent ${name} to connect`, () => coordinator.connected(name).then(() => true), 20_000);
  return { work, kept: join(work, `agent-${name}`, "checkouts"), err };
}

let n = 0;
const assignment = (checkout: CheckoutSpec, commands: string[]): Assignment =>
  assignmentOf(`att-${++n}`, commands.map((command, i) => ({ kind: "run" as const, name: `step ${i}`, command, env: {} })), { checkout });

/** Every path but `.git`'s with its type, mode, owner and link target, then every file's hash, then git's view. */
const FINGERPRINT = [
  "find . -mindepth 1 -path ./.git -prune -o -printf '%y %m %u:%g %p %l\\n' | LC_ALL=C sort",
  "find . -path ./.git -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha1sum",
  "git status --porcelain --ignored --untracked-files=all",
  // extended attributes (ACLs among them), where python can list them
  `python3 -c "import os; [print(p, os.listxattr(p, follow_symlinks=False)) for r, ds, fs in os.walk('.') if '.git' not in r.split(os.sep) for p in [os.path.join(r, n) for n in ds + fs] if os.listxattr(p, follow_symlinks=False)]"`,
  "git rev-parse HEAD",
].join("; ");

/** A repository with files in nested dirs, an executable, a tracked symlink and an ignored dir; returns its url and two commits. */
async function repository(name: string) {
  const url = server.createRepo(`kept/${name}.git`, { private: true });
  const files: Record<string, string> = { ".gitignore": "build/\n", "README.md": "readme\n" };
  for (let i = 0; i < 20; i++) files[`src/d${i % 3}/f${i}.ts`] = `export const v${i} = ${i};\n`;
  await server.commit(`kept/${name}.git`, files);
  const work = join(server.root, "work", `kept/${name}.git`);
  writeFileSync(join(work, "run.sh"), "#!/bin/sh\necho run\n");
  chmodSync(join(work, "run.sh"), 0o755);
  symlinkSync("src/d0", join(work, "link"));
  const first = await server.commit(`kept/${name}.git`, {}, { message: "exec and link" });
  const second = await server.commit(`kept/${name}.git`, { "src/d1/f1.ts": "export const v1 = 'one';\n", "src/d2/new.ts": "new\n", "README.md": null });
  return { url, first, second };
}

/** What a fresh `git clone` of `sha` gives, fingerprinted as the steps do it. */
async function freshFingerprint(url: string, sha: string): Promise<string> {
  const dir = dirs.fresh("fresh");
  await runGit(["clone", "-q", "--no-checkout", url, dir], { env: server.authEnv() });
  await runGit(["checkout", "-q", "--detach", sha], { cwd: dir });
  return Bun.spawnSync(["bash", "-c", FINGERPRINT], { cwd: dir }).stdout.toString();
}

/** Checks out `first` with `tamper` as the step, then `second`: the second tree must be a fresh clone's. */
async function afterTampering(agent: string, name: string, tamper: string, owner = "root:root") {
  const repo = await repository(name);
  const spec = (sha: string) => checkoutSpec(server, repo.url, sha);
  const one = await coordinator.assign(agent, assignment(spec(repo.first), [tamper]));
  expect(one.result, one.logs.get(0)).toMatchObject({ status: "success" });
  const two = await coordinator.assign(agent, assignment(spec(repo.second), [FINGERPRINT]));
  expect(two.result.status).toBe("success");
  const log = two.logs.get(0)!;
  expect(log).toContain("checkout: reusing a kept work tree");
  const fresh = (await freshFingerprint(repo.url, repo.second)).replaceAll("root:root", owner);
  expect(log.slice(log.indexOf("\n", log.lastIndexOf("checkout: ")) + 1)).toBe(fresh);
  return { repo, log };
}

const OUTSIDE = dirs.fresh("outside");

test("a step's changes to tracked files, new, ignored and huge files: the next commit's tree is a fresh clone's, only what differs written", async () => {
  const { kept } = await startAgent("k1");
  const { log } = await afterTampering(
    "k1",
    "edits",
    [
      // the same size, the mtime put back: only the ctime tells
      "cp -p src/d0/f0.ts .f0; printf 'export const v0 = 9;\\n' | dd of=src/d0/f0.ts conv=notrunc status=none; touch -r .f0 src/d0/f0.ts",
      "rm src/d1/f4.ts; echo more >> src/d2/f2.ts; chmod 600 src/d0/f3.ts; chmod +x src/d0/f6.ts; chmod -x run.sh",
      "mkdir -p build untracked; echo out > build/out; echo u > untracked/u; echo x > src/d0/extra.ts",
      "truncate -s 1G huge.bin",
      `python3 -c "import os; os.setxattr('src/d0/f9.ts', 'user.evil', b'1'); os.setxattr('src/d1', 'user.evil', b'1')"`,
    ].join("; "),
  );
  // three files of the new commit differ, five the step changed (not f3: its mode is put back as kept), f9 and the
  // other five of src/d1 had an extended attribute, and the tracked symlink is written again (none is kept)
  expect(log).toMatch(/: 15 file\(s\) written or removed\n/);
  // the tree is kept again once the attempt is over, and the huge file is not in it
  await waitFor("the tree to be kept again", () => readdirSync(kept).some((k) => k.startsWith("edits-")));
});

test("symlinks out of the tree, FIFOs, sockets, devices, hard links, unreadable and read-only dirs, other users' files", async () => {
  await startAgent("k2");
  mkdirSync(join(OUTSIDE, "d1"), { recursive: true });
  writeFileSync(join(OUTSIDE, "d1", "f1.ts"), "EVIL\n");
  const tamper = [
    // a dir replaced by a symlink to a look-alike outside, a tracked file by one to a secret
    `rm -rf src/d1; ln -s ${OUTSIDE}/d1 src/d1; rm README.md; ln -s /etc/shadow README.md`,
    "mkfifo fifo; python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")'; mknod dev c 1 3",
    `ln src/d0/f0.ts ${OUTSIDE}/hardlink`,
    "chmod 000 src/d2; mkdir ro; echo r > ro/r; chmod 555 ro src/d0; chown nobody:nogroup src/d0/f3.ts; chmod u+s src/d0/f6.ts",
  ].join("; ");
  await afterTampering("k2", "odd", tamper);
  // nothing outside was followed or changed
  expect(readFileSync(join(OUTSIDE, "d1", "f1.ts"), "utf8")).toBe("EVIL\n");
  expect(readFileSync(join(OUTSIDE, "hardlink"), "utf8")).toBe("export const v0 = 0;\n");
});

test("a .gitattributes of the step's under which other bytes convert back to a tracked file's does not make them look clean", async () => {
  await startAgent("k12");
  // the same size in EBCDIC: with working-tree-encoding, git would hash the file as the commit's bytes
  const tamper = [
    "printf 'src/d0/f0.ts working-tree-encoding=IBM037\\n* text eol=crlf ident\\n' > .gitattributes",
    "iconv -f UTF-8 -t IBM037 src/d0/f0.ts > .f0 && cat .f0 > src/d0/f0.ts",
  ].join("; ");
  const { log } = await afterTampering("k12", "encoded", tamper);
  // the three files of the new commit, f0 and the tracked symlink
  expect(log).toMatch(/: 5 file\(s\) written or removed\n/);
});

test("the agent user's git config cannot make the kept tree's check ignore ctimes", async () => {
  const repo = await repository("configured");
  const home = dirs.fresh("home");
  writeFileSync(join(home, ".gitconfig"), "[core]\n\ttrustctime = false\n\tcheckStat = minimal\n");
  const opts = {
    mirrorsDir: dirs.fresh("mirrors"),
    budgetBytes: 1024 ** 3,
    allowedRepos: null,
    lockTimeoutMs: 10_000,
    kept: { dir: dirs.fresh("pool"), perRepository: 1, budgetBytes: 1024 ** 3 },
  };
  const savedHome = process.env.HOME;
  process.env.HOME = home;
  try {
    const work = dirs.fresh("work");
    const tree = await checkout(checkoutSpec(server, repo.url, repo.first), work, opts, () => {});
    // as after a checkout slow enough that git wrote its index a second after this file: not "racily clean"
    const [key] = readdirSync(opts.kept.dir);
    const [entry] = readdirSync(join(opts.kept.dir, key!));
    const later = new Date(Date.now() + 2000);
    utimesSync(join(opts.kept.dir, key!, entry!, "index"), later, later);
    // the same size, the mtime put back, a second later: only the ctime tells
    await Bun.sleep(1100);
    const file = join(work, "src/d2/f2.ts");
    const { atime, mtime } = statSync(file);
    writeFileSync(file, readFileSync(file, "utf8").replace("2;", "7;"));
    utimesSync(file, atime, mtime);
    expect(await tree!.keep(work)).toBeNull();
    const next = dirs.fresh("work");
    const lines: string[] = [];
    await checkout(checkoutSpec(server, repo.url, repo.second), next, opts, (l) => lines.push(l));
    expect(lines.join("\n")).toContain("reusing a kept work tree");
    expect(Bun.spawnSync(["bash", "-c", FINGERPRINT], { cwd: next }).stdout.toString()).toBe(await freshFingerprint(repo.url, repo.second));
  } finally {
    process.env.HOME = savedHome;
  }
});

test("nothing of the step's .git is used: not its hooks, config or alternates; nested repositories are gone", async () => {
  await startAgent("k3");
  const marker = join(OUTSIDE, "hooked");
  const tamper = [
    `printf '#!/bin/sh\\ntouch ${marker}\\n' > .git/hooks/post-checkout; chmod +x .git/hooks/post-checkout`,
    `git config core.fsmonitor 'touch ${marker}'; git config core.hooksPath /tmp; echo /nonexistent > .git/objects/info/alternates`,
    "git init -q src/d0; git init -q nested; echo n > nested/n",
  ].join("; ");
  await afterTampering("k3", "planted", tamper);
  expect(existsSync(marker)).toBe(false);
});

test("with --run-as, the kept tree is the agent's between attempts and the step user's in them, as a fresh one", async () => {
  const { kept } = await startAgent("k4", ["--run-as", STEP_USER]);
  await afterTampering("k4", "runas", "echo mine > mine; chmod 700 src/d0", `${STEP_USER}:${STEP_USER}`);
  // between attempts the tree is the agent's alone, where no step reaches
  const key = readdirSync(kept).find((k) => k.startsWith("runas-"))!;
  await waitFor("the tree to be kept", () => readdirSync(join(kept, key)).some((e) => existsSync(join(kept, key, e, "ready"))));
  const [entry] = readdirSync(join(kept, key));
  for (const path of ["tree", "tree/src", "tree/src/d0", "tree/src/d0/f0.ts"]) expect(statSync(join(kept, key, entry!, path)).uid).toBe(0);
});

test("attempts of one repository at once each take a different tree, or none; at most --kept-checkouts are kept", async () => {
  const { kept } = await startAgent("k5", ["--capacity", "3", "--kept-checkouts", "2"]);
  const repo = await repository("together");
  // each marks its tree and waits while the others mark theirs: none sees another's mark
  const three = () =>
    Promise.all(
      ["a", "b", "c"].map((me) =>
        coordinator.assign("k5", assignment(checkoutSpec(server, repo.url, repo.first), [`test ! -e mark; echo ${me} > mark; sleep 1; cat mark`])),
      ),
    );
  const lastLine = (o: { logs: Map<number, string> }) => o.logs.get(0)!.trim().split("\n").pop();
  const first = await three();
  expect(first.map(lastLine)).toEqual(["a", "b", "c"]);
  const entries = () => readdirSync(join(kept, readdirSync(kept).find((k) => k.startsWith("together-"))!));
  await waitFor("two trees kept of three", () => entries().length === 2);
  const second = await three();
  expect(second.map(lastLine)).toEqual(["a", "b", "c"]);
  // two took a kept tree each, the third checked out afresh
  expect(second.filter((o) => o.logs.get(0)!.includes("reusing a kept work tree")).length).toBe(2);
  await waitFor("two trees kept of three", () => entries().length === 2);
});

test("a kept tree that cannot be reused is dropped for a fresh checkout; a tree past the budget is not kept", async () => {
  const { kept, err } = await startAgent("k6", ["--kept-checkouts-budget", "2K"]);
  const repo = await repository("fallback");
  const spec = (sha: string) => checkoutSpec(server, repo.url, sha);
  await coordinator.assign("k6", assignment(spec(repo.first), ["true"]));
  const key = readdirSync(kept).find((k) => k.startsWith("fallback-"))!;
  const [entry] = readdirSync(join(kept, key));
  await waitFor("the tree to be kept", () => existsSync(join(kept, key, entry!, "ready")));
  // something in the way where the agent keeps it (no step reaches there): a .git the fresh one cannot replace
  mkdirSync(join(kept, key, entry!, "tree", ".git", "x"), { recursive: true });
  const two = await coordinator.assign("k6", assignment(spec(repo.second), [FINGERPRINT]));
  expect(two.logs.get(0)).toContain("checkout: the kept work tree could not be reused (");
  expect(two.logs.get(0)).toContain("; checking out afresh\n");
  expect(two.logs.get(0)!.slice(two.logs.get(0)!.indexOf("\n", two.logs.get(0)!.lastIndexOf("checkout: ")) + 1)).toBe(
    await freshFingerprint(repo.url, repo.second),
  );
  // a commit whose files outgrow the budget: not kept, and the agent says why
  const big = await server.commit("kept/fallback.git", { "big.txt": "x".repeat(4096) });
  await coordinator.assign("k6", assignment(spec(big), ["true"]));
  await waitFor("the agent to say the tree is not kept", () => err.text().includes("more than the kept trees' budget"));
  expect(readdirSync(join(kept, key))).toEqual([]);
});

test("a checkout below the work dir whose path a step replaced by a symlink is not kept, and nothing outside moves", async () => {
  await startAgent("k7");
  const repo = await repository("below");
  const spec = (sha: string) => checkoutSpec(server, repo.url, sha, { path: "deep/app" });
  const away = dirs.fresh("away");
  const one = await coordinator.assign("k7", assignment(spec(repo.first), [`mv deep ${away}/deep && ln -s ${away}/deep deep`]));
  expect(one.result.status).toBe("success");
  const two = await coordinator.assign("k7", assignment(spec(repo.second), ["true"]));
  expect(two.logs.get(0)).not.toContain("reusing a kept work tree");
  expect(existsSync(join(away, "deep", "app", "src", "d0", "f0.ts"))).toBe(true);
  // the second one, where nothing was in the way, is kept and taken by the third
  const three = await coordinator.assign("k7", assignment(spec(repo.first), [`cd deep/app && ${FINGERPRINT}`]));
  const log = three.logs.get(0)!;
  expect(log).toContain("checkout: reusing a kept work tree");
  expect(log.slice(log.indexOf("\n", log.lastIndexOf("checkout: ")) + 1)).toBe(await freshFingerprint(repo.url, repo.first));
});

test("submodules are checked out afresh in a kept tree", async () => {
  await startAgent("k8");
  const libUrl = server.createRepo("kept/lib.git", { private: true });
  await server.commit("kept/lib.git", { "lib.txt": "library\n" });
  const url = server.createRepo("kept/super.git", { private: true });
  await server.commit("kept/super.git", { "a.txt": "a\n" });
  await server.git("kept/super.git", "submodule", "add", "-q", libUrl, "vendor/lib");
  const first = await server.commit("kept/super.git", {}, { message: "add lib" });
  const second = await server.commit("kept/super.git", { "a.txt": "b\n" });
  const spec = (sha: string) => checkoutSpec(server, url, sha, { submodules: true });
  await coordinator.assign("k8", assignment(spec(first), ["echo x >> vendor/lib/lib.txt"]));
  const two = await coordinator.assign("k8", assignment(spec(second), ["cat a.txt vendor/lib/lib.txt; git status --porcelain --ignored; git submodule status"]));
  expect(two.logs.get(0)).toContain("checkout: reusing a kept work tree");
  expect(two.logs.get(0)).toContain("checkout: 1 submodule(s) checked out\nb\nlibrary\n ");
});

test("an agent not running as root opens what its step made unreadable or read-only, and keeps the tree", async () => {
  const work = dirs.fresh("k9");
  Bun.spawnSync(["chown", `${STEP_USER}:`, work]);
  const proc = spawnTracked(
    ["setpriv", `--reuid=${STEP_USER}`, `--regid=${STEP_USER}`, "--init-groups", "--", "bun", "agent/main.ts", "--coordinator", coordinator.url,
      "--token", "t", "--name", "k9", "--work-dir", work],
    { cwd: ROOT, env: { PATH: process.env.PATH!, HOME: work } },
  );
  captureOutput(proc.stderr);
  await waitFor("agent k9 to connect", () => coordinator.connected("k9").then(() => true), 20_000);
  const tamper = "chmod 000 src/d2 src/d0/f3.ts; mkdir -p ro/in; echo r > ro/in/r; chmod 555 ro/in; chmod 000 ro; chmod 555 src/d1";
  await afterTampering("k9", "unprivileged", tamper, `${STEP_USER}:${STEP_USER}`);
});

test("a shallow checkout (depth 1) brings a kept tree to its commit too", async () => {
  await startAgent("k10");
  const repo = await repository("shallow");
  const spec = (sha: string) => checkoutSpec(server, repo.url, sha, { depth: 1 });
  await coordinator.assign("k10", assignment(spec(repo.first), ["echo changed > src/d1/f4.ts; rm src/d2/f5.ts"]));
  const two = await coordinator.assign("k10", assignment(spec(repo.second), [`${FINGERPRINT}; git rev-parse --is-shallow-repository`]));
  const log = two.logs.get(0)!;
  expect(log).toContain("checkout: reusing a kept work tree");
  expect(log.slice(log.indexOf("\n", log.lastIndexOf("checkout: ")) + 1)).toBe(`${await freshFingerprint(repo.url, repo.second)}true\n`);
});

test("in the sandbox executor, a tree a sandboxed step tampered with is brought to the next commit as a fresh one", async () => {
  await startAgent("k11", ["--executor", "sandbox", "--run-as", STEP_USER]);
  const repo = await repository("sandboxed");
  const spec = (sha: string) => checkoutSpec(server, repo.url, sha);
  // the reference: the agent's own first (fresh) checkout of the second commit, fingerprinted in its sandbox
  const fresh = await coordinator.assign("k11", assignment(spec(repo.second), [FINGERPRINT]));
  const tamper = "chmod 000 src/d2; rm -rf src/d1 && ln -s /etc src/d1; mkfifo fifo; echo x >> src/d0/f0.ts; git init -q nested";
  const one = await coordinator.assign("k11", assignment(spec(repo.first), [tamper]));
  expect(one.result.status).toBe("success");
  const two = await coordinator.assign("k11", assignment(spec(repo.second), [FINGERPRINT]));
  const after = (log: string) => log.slice(log.indexOf("\n", log.lastIndexOf("checkout: ")) + 1);
  expect(two.logs.get(0)).toContain("checkout: reusing a kept work tree");
  expect(after(fresh.logs.get(0)!)).toContain("f 644 drover-step:drover-step ./src/d2/new.ts \n");
  expect(after(two.logs.get(0)!)).toBe(after(fresh.logs.get(0)!));
});
