import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { ADMIN_TOKEN, type Cluster, ROOT, type RunView, startCluster } from "../helpers/cluster.ts";

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startAgent("arch1", ["--capacity", "2"]);
});
afterAll(() => cluster.stop());

const PIPELINE = `tasks:
  build:
    steps:
      - run: |
          mkdir -p dist/sub deps coverage
          echo built > dist/app.txt
          printf '#!/bin/sh\\necho tool\\n' > dist/sub/tool.sh && chmod 755 dist/sub/tool.sh
          ln -s app.txt dist/link.txt
          echo lock-v1 > deps.lock
          echo cached > deps/lib.txt
          echo '<html>' > coverage/index.html
      - save_to_workspace: { paths: ['dist/**', deps.lock] }
      - save_cache: { key: 'deps-{{ checksum "deps.lock" }}', paths: [deps] }
      - save_artifact: { paths: ['coverage/**'] }
  test:
    depends: [build]
    steps:
      - restore_workspace: {}
      - restore_cache: { keys: ['deps-{{ checksum "deps.lock" }}', 'deps-'] }
      - restore_cache: { keys: ['nope-', 'deps-'], dest: again }
      - restore_cache: { keys: [missing-key] }
      - run: |
          test "$(cat dist/app.txt)" = built
          test -x dist/sub/tool.sh && test "$(dist/sub/tool.sh)" = tool
          test -L dist/link.txt && test "$(cat dist/link.txt)" = built
          test "$(cat deps/lib.txt)" = cached
          test "$(cat again/deps/lib.txt)" = cached
          echo all-good
`;

const statuses = (run: RunView) => Object.fromEntries(run.tasks.map((t) => [t.name, t.status]));

test("workspace, cache and artifacts flow from build to test", async () => {
  const id = await cluster.submit(PIPELINE);
  const run = await cluster.waitRun(id, 60_000);
  expect(statuses(run)).toEqual({ build: "success", test: "success" });
  expect(run.result).toBe("success");

  expect(await cluster.log(id, "build", 1)).toMatch(/^saved 3 files \(\d+ B\) to the workspace, [\d.]+ \w+ compressed\n$/);
  expect(await cluster.log(id, "build", 2)).toMatch(/^saved cache deps-[0-9a-f]{64}: 1 file \(7 B\)\n$/);
  expect(await cluster.log(id, "build", 3)).toBe("uploaded coverage/index.html (7 B)\nsaved 1 artifact (7 B)\n");
  // one agent: the files build saved were kept here, and moved into place
  expect(await cluster.log(id, "test", 0)).toBe("restored the workspace of build: 3 files, moved from the copy kept on this agent\n");
  expect(await cluster.log(id, "test", 1)).toMatch(/^restored cache deps-[0-9a-f]{64} \(.+\): 1 file\n$/);
  expect(await cluster.log(id, "test", 2)).toMatch(/^restored cache deps-[0-9a-f]{64} \(.+, newest for prefix deps-\): 1 file\n$/);
  expect(await cluster.log(id, "test", 3)).toBe("cache miss for keys: missing-key\n");
  expect(await cluster.log(id, "test", 4)).toBe("all-good\n");

  const listed = await cluster.api<{ artifacts: { task: string; path: string; size: number; sha256: string; url: string }[] }>(
    "GET",
    `/api/v1/runs/${id}/artifacts`,
  );
  const content = "<html>\n";
  expect(listed.body.artifacts.map(({ task, path, size, sha256 }) => ({ task, path, size, sha256 }))).toEqual([
    { task: "build", path: "coverage/index.html", size: content.length, sha256: new Bun.CryptoHasher("sha256").update(content).digest("hex") },
  ]);
  const download = await fetch(`${cluster.coordinator.url}${listed.body.artifacts[0]!.url}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(await download.text()).toBe(content);
  const into = join(cluster.dir, "downloaded");
  const cli = Bun.spawnSync(["bun", join(ROOT, "cli/main.ts"), "artifacts", id, "--download", into], {
    env: { ...process.env, DROVER_URL: cluster.coordinator.url, DROVER_TOKEN: ADMIN_TOKEN },
  });
  expect(cli.stdout.toString()).toContain("downloaded 1 artifact(s)");
  expect(await Bun.file(join(into, "build/coverage/index.html")).text()).toBe("<html>\n");

  // The same key again: caches are immutable, the second save is skipped.
  const again = await cluster.submit(PIPELINE);
  expect((await cluster.waitRun(again, 60_000)).result).toBe("success");
  expect(await cluster.log(again, "build", 2)).toMatch(/^cache deps-[0-9a-f]{64} exists, not saved\n$/);
}, 120_000);

test("a workspace kept on the agent that saved it goes to one restore there; another, or one after a change, downloads it", async () => {
  const check = "test \"$(cat out/a.txt)\" = saved-a && test \"$(cat out/b.txt)\" = saved-b && echo ok";
  const id = await cluster.submit(`tasks:
  build:
    steps:
      - run: mkdir -p out && echo saved-a > out/a.txt && echo saved-b > out/b.txt
      - save_to_workspace: { paths: ['out/**'] }
  first: { depends: [build], steps: [ { restore_workspace: {} }, { run: '${check}' } ] }
  second: { depends: [first], steps: [ { restore_workspace: {} }, { run: '${check}' } ] }
`);
  const run = await cluster.waitRun(id);
  expect(run.result).toBe("success");
  expect(await cluster.log(id, "first", 0)).toBe("restored the workspace of build: 2 files, moved from the copy kept on this agent\n");
  expect(await cluster.log(id, "second", 0)).toMatch(/^restored the workspace of build: 2 files \(.+ compressed\)\n$/);
  expect(await cluster.log(id, "second", 1)).toBe("ok\n");

  // A later step of the saving task writes to a saved file in place: the kept copy is void and
  // the restore gets the archive, as saved.
  const changed = await cluster.submit(`tasks:
  build:
    steps:
      - run: mkdir -p out && echo saved-a > out/a.txt && echo saved-b > out/b.txt
      - save_to_workspace: { paths: ['out/**'] }
      - run: echo after-the-save >> out/b.txt
  use: { depends: [build], steps: [ { restore_workspace: {} }, { run: '${check}' } ] }
`);
  const after = await cluster.waitRun(changed);
  expect(after.result).toBe("success");
  expect(await cluster.log(changed, "use", 0)).toMatch(
    /^the copy kept on this agent has changed since it was saved \(out\/b.txt\): downloading the archive\nrestored the workspace of build: 2 files \(.+ compressed\)\n$/,
  );
  expect(await cluster.log(changed, "use", 1)).toBe("ok\n");
  // nothing kept stays behind once used or void
  expect(Bun.spawnSync(["bash", "-c", `find ${join(cluster.dir, "agent-arch1", "kept")} -type f | wc -l`]).stdout.toString().trim()).toBe("0");
});

test("a cache key that cannot be rendered fails the step with the reason", async () => {
  const id = await cluster.submit(`tasks:
  bad: { steps: [ { save_cache: { key: 'k-{{ checksum "missing.lock" }}', paths: [x] } } ] }
`);
  const run = await cluster.waitRun(id, 60_000);
  expect(run.result).toBe("failed");
  const attempt = run.tasks[0]!.attempts[0]!;
  expect(attempt.exitCode).toBe(1);
  expect(attempt.error).toContain("missing.lock is not a file in the work dir");
  expect(await cluster.log(id, "bad", 0)).toContain("error: cache key \"k-{{ checksum \"missing.lock\" }}\"");
}, 60_000);

test("two concurrent saves of one cache key store one object", async () => {
  // counted in the store itself, whichever it is (DROVER_TEST_STORAGE=s3 runs this file on a bucket)
  const cacheFiles = async () => (await Array.fromAsync(openObjectStore(cluster.storage).list("caches/"))).length;
  const before = await cacheFiles();
  const id = await cluster.submit(`tasks:
  one: { steps: [ { run: 'mkdir -p d && echo one > d/f' }, { save_cache: { key: same-key, paths: [d] } } ] }
  two: { steps: [ { run: 'mkdir -p d && echo two > d/f' }, { save_cache: { key: same-key, paths: [d] } } ] }
  use: { depends: [one, two], steps: [ { restore_cache: { keys: [same-key] } }, { run: 'cat d/f' } ] }
`);
  const run = await cluster.waitRun(id);
  expect(run.result).toBe("success");
  expect(await cacheFiles()).toBe(before + 1);
  expect(["one\n", "two\n"]).toContain(await cluster.log(id, "use", 1));
});

test("a restore_cache prefix with `_` finds the key it starts, not one `_` would match as a wildcard", async () => {
  const id = await cluster.submit(`tasks:
  save: { steps: [ { run: 'mkdir -p d && echo underscore > d/f' }, { save_cache: { key: under_score-v1, paths: [d] } } ] }
  decoy: { depends: [save], steps: [ { run: 'mkdir -p d && echo decoy > d/f' }, { save_cache: { key: underXscore-v2, paths: [d] } } ] }
  use: { depends: [decoy], steps: [ { restore_cache: { keys: [under_score-] } }, { run: 'cat d/f' } ] }
`);
  const run = await cluster.waitRun(id);
  expect(run.result).toBe("success");
  expect(await cluster.log(id, "use", 0)).toMatch(/^restored cache under_score-v1 \(.+, newest for prefix under_score-\): 1 file\n$/);
  expect(await cluster.log(id, "use", 1)).toBe("underscore\n");
});

test("caches belong to the run's group unless the pipeline names a cache_group that groups share", async () => {
  const save = (key: string, text: string, cacheGroup = "") => `${cacheGroup}tasks:
  save: { steps: [ { run: 'mkdir -p d && echo ${text} > d/f' }, { save_cache: { key: ${key}, paths: [d] } } ] }
`;
  const restore = (key: string, cacheGroup = "") => `${cacheGroup}tasks:
  use: { steps: [ { restore_cache: { keys: [${key}] } }, { run: 'cat d/f 2>/dev/null || echo none' } ] }
`;
  const ran = async (pipeline: string, group: string) => {
    const id = await cluster.submit(pipeline, group);
    expect((await cluster.waitRun(id, 60_000)).result).toBe("success");
    return id;
  };
  // the run group is the cache group: another group does not see the cache, the same group does
  await ran(save("grouped", "alpha"), "cache-a");
  expect(await cluster.log(await ran(restore("grouped"), "cache-b"), "use", 1)).toBe("none\n");
  expect(await cluster.log(await ran(restore("grouped"), "cache-a"), "use", 1)).toBe("alpha\n");
  // a cache_group shared by two projects' pipelines crosses their run groups, and only theirs
  const shared = "cache_group: shared-tools\n";
  await ran(save("tools", "beta", shared), "project-1");
  expect(await cluster.log(await ran(restore("tools", shared), "project-2"), "use", 1)).toBe("beta\n");
  expect(await cluster.log(await ran(restore("tools"), "project-1"), "use", 1)).toBe("none\n");
}, 120_000);
