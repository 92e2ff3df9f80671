import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { ADMIN_TOKEN, type Cluster, ROOT, startCluster } from "../helpers/cluster.ts";
import { spawnTracked } from "../helpers/processes.ts";

let cluster: Cluster | undefined;

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startAgent("a1", ["--capacity", "2"]);
});
afterAll(() => cluster?.stop());

/** A temp project directory holding `files` (path → content). */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(cluster!.dir, "project-"));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** Runs the CLI as a user would, from `cwd`, against the test coordinator. */
async function drover(args: string[], cwd = ROOT, env: Record<string, string> = {}) {
  const proc = spawnTracked(["bun", join(ROOT, "cli/main.ts"), ...args], {
    cwd,
    env: { DROVER_URL: cluster!.coordinator.url, DROVER_TOKEN: ADMIN_TOKEN, USER: "tester", ...env },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr, output: stdout + stderr };
}

const PIPELINE = `tasks:
  build:
    steps:
      - run: cat data.txt
      - run: test ! -e ignored.txt && test ! -e sub/debug.log && test ! -e .git && test ! -e .drover && cat sub/kept.txt
`;

describe("drover run", () => {
  let dir: string;
  /** The directory's one run, started by whichever test needs it first: the tests do not depend on their order. */
  let uploaded: Promise<Awaited<ReturnType<typeof drover>> & { runId: string }> | undefined;
  const uploadedRun = () => {
    uploaded ??= drover(["run"], dir).then((r) => ({ ...r, runId: r.stderr.match(/run (\S+) in group/)?.[1] ?? "" }));
    return uploaded;
  };

  beforeAll(() => {
    dir = project({
      ".drover.yml": PIPELINE,
      "data.txt": "hello from the workspace\n",
      ".gitignore": "ignored.txt\n",
      "ignored.txt": "must not be uploaded\n",
      "sub/.gitignore": "*.log\n",
      "sub/debug.log": "must not be uploaded either\n",
      "sub/kept.txt": "kept\n",
      ".git/HEAD": "ref: refs/heads/main\n",
    });
  });

  test("uploads the directory without ignored files, streams prefixed logs and exits 0 on success", async () => {
    const { code, stdout, stderr, output } = await uploadedRun();
    expect(code, output).toBe(0);
    expect(stdout).toContain("[build] hello from the workspace\n");
    expect(stdout).toContain("[build] kept\n");
    expect(stdout).toContain("==> build success");
    expect(stdout).toMatch(/run \S+ finished: success/);
    expect(stderr).toContain(`in group direct/tester/${basename(dir)}`);
  });

  test("drover runs --json lists the run in its group", async () => {
    const { runId } = await uploadedRun();
    const { code, stdout, output } = await drover(["runs", "--json", "--group", `direct/tester/${basename(dir)}`]);
    expect(code, output).toBe(0);
    const runs = JSON.parse(stdout) as { id: string; result: string }[];
    expect(runs.map((r) => [r.id, r.result])).toEqual([[runId, "success"]]);
    // every run of this file fits: the others may have run first
    const table = await drover(["runs", "--limit", "50"]);
    expect(table.stdout).toMatch(new RegExp(`${runId} +- +direct/tester/\\S+ +finished +success +direct +- +- +- +- +admin `));
  });

  test("drover logs prints a task's log, or one step of it", async () => {
    const { runId } = await uploadedRun();
    const all = await drover(["logs", runId, "build"]);
    expect(all.code, all.output).toBe(0);
    expect(all.stdout).toBe("hello from the workspace\nkept\n");
    const first = await drover(["logs", runId, "build", "--step", "0", "-f"]);
    expect(first.stdout).toBe("hello from the workspace\n");
    const everyTask = await drover(["logs", runId]);
    expect(everyTask.stdout).toBe("[build] hello from the workspace\n[build] kept\n");
    const json = await drover(["logs", runId, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual([
      { task: "build", attempt: 1, step: 0, log: "hello from the workspace\n" },
      { task: "build", attempt: 1, step: 1, log: "kept\n" },
    ]);
  });

  test("a link the agent would refuse (a `..` after a name) is left out instead of failing the run", async () => {
    const linked = project({
      ".drover.yml": "tasks:\n  t:\n    steps: [ { run: test ! -L climbs && cat inside } ]\n",
      "sub/x.txt": "through a link\n",
    });
    symlinkSync("sub/x.txt", join(linked, "inside"));
    symlinkSync("sub/../sub/x.txt", join(linked, "climbs"));
    const { code, stdout, output } = await drover(["run"], linked);
    expect(code, output).toBe(0);
    expect(stdout).toContain("[t] through a link\n");
  });

  test("a failing pipeline exits 1 and says why", async () => {
    const failing = project({ ".drover.yml": "tasks:\n  boom:\n    steps:\n      - run: echo before; exit 3\n" });
    const { code, stdout, output } = await drover(["run"], failing);
    expect(code, output).toBe(1);
    expect(stdout).toContain("[boom] before\n");
    expect(stdout).toContain("==> boom failed: exit code 3");
    expect(stdout).toMatch(/run \S+ finished: failed/);
  });

  test("--json prints the final run instead of the logs", async () => {
    const { code, stdout, output } = await drover(["run", "--json", "--var", "GREETING=hi"], project({ ".drover.yml": "tasks:\n  t:\n    steps: [ { run: echo $GREETING } ]\n" }));
    expect(code, output).toBe(0);
    const run = JSON.parse(stdout) as { result: string; variables: string[]; tasks: { name: string }[] };
    expect([run.result, run.variables, run.tasks.map((t) => t.name)]).toEqual(["success", ["GREETING"], ["t"]]);
  });

  test("a pipeline the coordinator refuses prints its file:line:col errors and exits 1", async () => {
    const invalid = project({ ".drover.yml": "tasks:\n  build:\n    steps:\n      - nope: 1\n" });
    const { code, output } = await drover(["run"], invalid);
    expect(code, output).toBe(1);
    expect(output).toContain(".drover.yml:4:9");
  });

  test("a direct run of a git checkout records its HEAD, branch, message, author and whether the tree was dirty", async () => {
    const dir = project({ ".drover.yml": "tasks:\n  t:\n    steps: [ { run: echo \"$DROVER_EVENT $DROVER_COMMIT_SHA $DROVER_BRANCH\" } ]\n" });
    const git = (...args: string[]) => Bun.spawnSync(["git", "-C", dir, "-c", "user.name=Dee Veloper", "-c", "user.email=d@x.invalid", ...args]);
    git("init", "-q", "-b", "topic");
    git("add", "-A");
    git("commit", "-q", "-m", "local change\n\nbody");
    const sha = git("rev-parse", "HEAD").stdout.toString().trim();
    const clean = await drover(["run", "--json"], dir);
    expect(clean.code, clean.output).toBe(0);
    const run = JSON.parse(clean.stdout) as { id: string; group: string; source: Record<string, unknown> };
    expect(run.group).toBe(`direct/tester/${basename(dir)}`);
    expect(run.source).toEqual({
      event: "direct", sha, ref: null, branch: "topic", tag: null, pr: null, before: null,
      message: "local change\n\nbody", author: "Dee Veloper", repoUrl: null, trigger: "admin", dirty: false,
    });
    expect(await cluster!.log(run.id, "t", 0)).toBe(`direct ${sha} topic\n`);
    writeFileSync(join(dir, "new.txt"), "not committed\n");
    const dirty = await drover(["run", "--json"], dir);
    expect((JSON.parse(dirty.stdout) as { source: { dirty: boolean } }).source.dirty).toBe(true);
    const listed = await drover(["runs", "--group", `direct/tester/${basename(dir)}`]);
    expect(listed.stdout).toContain(` topic   ${sha.slice(0, 8)}+  local change `);
    const api = await cluster!.api<{ source: { event: string; trigger: string } }>("POST", "/api/v1/runs", { pipeline: "tasks:\n  t:\n    steps: [ { run: 'true' } ]\n" });
    expect(api.body.source).toMatchObject({ event: "api", trigger: "admin", sha: null });
  });

  test("a missing pipeline file is a usage error", async () => {
    const empty = project({});
    const { code, stderr } = await drover(["run", "-f", "absent.yml"], empty);
    expect(code).toBe(2);
    expect(stderr).toContain("no pipeline file");
    expect(existsSync(join(empty, ".drover"))).toBe(false);
  });
});

describe("the CLI's errors", () => {
  test("an unknown verb exits 2 with the list of verbs", async () => {
    const { code, stderr } = await drover(["nosuchverb"]);
    expect(code).toBe(2);
    expect(stderr).toContain('unknown command "nosuchverb"');
    expect(stderr).toContain("logs");
  });

  test("without DROVER_TOKEN the CLI says so", async () => {
    const { code, stderr } = await drover(["runs"], ROOT, { DROVER_TOKEN: "" });
    expect(code).toBe(1);
    expect(stderr).toContain("DROVER_TOKEN is not set");
  });

  test("a run or task that does not exist is a clear error", async () => {
    const { code, stderr } = await drover(["logs", "nosuchrun"]);
    expect(code).toBe(1);
    expect(stderr).toContain("run nosuchrun not found");
  });

  test("a coordinator that cannot start with the settings given says why in a line, without a stack", async () => {
    const data = mkdtempSync(join(tmpdir(), "drover-serve-"));
    try {
      for (const [env, why] of [
        [{ DROVER_MAX_OBJECT_BYTES: "abc" }, 'DROVER_MAX_OBJECT_BYTES: expected bytes or a size like 512M or 1G, got "abc"'],
        [{ DROVER_STORAGE: "ftp://x" }, 'unsupported object store "ftp://x"'],
      ] as const) {
        const { code, stderr } = await drover(["serve", "--port", "0", "--data", data], ROOT, env);
        expect(code).toBe(1);
        expect(stderr).toStartWith("drover serve: cannot start: ");
        expect(stderr).toContain(why);
        expect(stderr).not.toMatch(/^\s+at /m);
      }
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
