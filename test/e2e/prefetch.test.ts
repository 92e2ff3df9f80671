import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomFillSync } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Cluster, SHORT_LEASE, startCluster } from "../helpers/cluster.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";

/**
 * Prefetched workspaces: the upload of `build`'s workspace (on `saver`) is followed by an agent eligible for
 * `use` (labelled role=b: `b1` or `b2`), which a restore there then moves into place.
 */
let cluster: Cluster;
const agents: Record<string, Awaited<ReturnType<Cluster["startAgent"]>>> = {};
const SAVER = ["--label", "role=a", "--keep-workspaces", "0"];
let src: string;

beforeAll(async () => {
  cluster = await startCluster(SHORT_LEASE);
  agents.saver = await cluster.startAgent("saver", SAVER);
  agents.b1 = await cluster.startAgent("b1", ["--label", "role=b", "--label", "slot=b1"]);
  agents.b2 = await cluster.startAgent("b2", ["--label", "role=b", "--label", "slot=b2"]);
  // mixed content: a large random file, many small ones, an executable, a symlink
  src = join(cluster.dir, "src");
  mkdirSync(join(src, "small"), { recursive: true });
  writeFileSync(join(src, "big.bin"), randomFillSync(new Uint8Array(24 * 1024 * 1024)));
  for (let i = 0; i < 300; i++) writeFileSync(join(src, "small", `f${i}.txt`), `file ${i}\n`.repeat(i));
  writeFileSync(join(src, "run.sh"), "#!/bin/sh\necho run\n", { mode: 0o755 });
  symlinkSync("big.bin", join(src, "link"));
}, 60_000);
afterAll(() => cluster.stop());

/** What the restored tree holds, as a step prints it: every file's sha256 and every link's target. */
const LISTING = "cd ws && find . -type f | sort | xargs sha256sum && find . -type l -printf '%p -> %l\\n' | sort && test -x run.sh";
const expected = (from = src) =>
  Bun.spawnSync(["bash", "-c", `mkdir -p "$1" && cp -a "$2" "$1/ws" && cd "$1" && ${LISTING}`, "x", join(cluster.dir, `copy-${Date.now()}`), from]).stdout.toString();

const pipeline = (build: string[], use: string[] = []) => `tasks:
  build:
    labels: { role: a }
    steps:
      - run: cp -a '${src}' ws
      - save_to_workspace: { paths: ['ws/**'] }
${build.map((s) => `      - run: ${JSON.stringify(s)}\n`).join("")}  use:
    depends: [build]
    labels: { role: b }
    steps:
      - restore_workspace: {}
      - run: ${JSON.stringify(LISTING)}
${use.map((s) => `      - run: ${JSON.stringify(s)}\n`).join("")}`;

/** The name of the agent whose run `id` task ran on. */
async function ranOn(id: string, task: string): Promise<string> {
  const run = await cluster.waitRun(id, 60_000);
  const agentId = run.tasks.find((t) => t.name === task)!.attempts.at(-1)!.agentId;
  const { body } = await cluster.api<{ agents: { id: string; name: string }[] }>("GET", "/api/v1/agents");
  return body.agents.find((a) => a.id === agentId)!.name;
}

/** Files under an agent's kept workspaces. */
function keptFiles(agent: string): string[] {
  const root = join(cluster.dir, `agent-${agent}`, "kept");
  return existsSync(root) ? (readdirSync(root, { recursive: true }) as string[]).map((p) => join(root, p)).filter((p) => statSync(p).isFile()) : [];
}

/** Every file kept by b1 and b2 now: copies other tests prefetched and never used stay (they run in any order). */
const keptByB = () => new Set([...keptFiles("b1"), ...keptFiles("b2")]);

/** The agent (b1 or b2) that logs a prefetch past the output it had when `marks` was taken (`outputs()`). */
const outputs = () => Object.fromEntries(["b1", "b2"].map((name) => [name, agents[name]!.output().length]));
const newPrefetch = (marks: Record<string, number>, pattern: RegExp) =>
  ["b1", "b2"].find((name) => pattern.test(agents[name]!.output().slice(marks[name])));

test("a workspace saved on one agent is prefetched by the one that restores it, byte for byte", async () => {
  // only this run's copy must go
  const before = keptByB();
  const id = await cluster.submit(pipeline([]));
  const run = await cluster.waitRun(id, 60_000);
  expect(run.result).toBe("success");
  expect(await cluster.log(id, "use", 0)).toMatch(/restored the workspace of build: 302 files, moved from the copy prefetched to this agent\n$/);
  expect(await cluster.log(id, "use", 1)).toBe(expected());
  // the copy is used once: nothing of it stays behind
  expect(keptFiles(await ranOn(id, "use")).filter((file) => !before.has(file))).toEqual([]);
}, 60_000);

test("a prefetched copy changed before the restore is not used: the restore downloads", async () => {
  const signal = join(cluster.dir, "go-tamper");
  const marks = outputs();
  // a file of this run's copy is changed
  const before = keptByB();
  const id = await cluster.submit(pipeline([`while [ ! -e '${signal}' ]; do sleep 0.05; done`]));
  const holder = await waitFor("the prefetch", () => newPrefetch(marks, /prefetched \S+: 30\d entries/), 30_000);
  const small = keptFiles(holder).find((p) => !before.has(p) && statSync(p).size > 0 && statSync(p).size < 4096)!;
  appendFileSync(small, "tampered");
  writeFileSync(signal, "");
  const run = await cluster.waitRun(id, 60_000);
  expect(run.result).toBe("success");
  expect(await ranOn(id, "use")).toBe(holder);
  expect(await cluster.log(id, "use", 0)).toMatch(
    /^the copy prefetched to this agent has changed since it was written \(ws\/.+\): downloading the archive\nrestored the workspace of build: 302 files \(.+ compressed\)\n$/,
  );
  expect(await cluster.log(id, "use", 1)).toBe(expected());
}, 60_000);

test("a prefetch whose agent takes other work first: the restore on another agent downloads, correctly", async () => {
  // `use` can go to b1 or b2. b2 is busy while the workspace is uploaded, so b1 prefetches it; then b1 takes
  // another task, and b2, free again, runs `use`.
  const dir = join(cluster.dir, "busy");
  mkdirSync(dir);
  const wait = (name: string) => `while [ ! -e '${join(dir, name)}' ]; do sleep 0.05; done`;
  const touch = (name: string) => `touch '${join(dir, name)}'`;
  const hold = await cluster.submit(`tasks:
  hold_b2: { labels: { slot: b2 }, steps: [ { run: ${JSON.stringify(`${touch("b2-busy")} && ${wait("saved")}`)} } ] }
`);
  await waitFor("b2 busy", () => existsSync(join(dir, "b2-busy")), 30_000);
  const marks = outputs();
  const id = await cluster.submit(pipeline([touch("saved"), wait("b1-busy")], [touch("used")]));
  await waitFor("the save", () => existsSync(join(dir, "saved")), 30_000);
  const other = await cluster.submit(`tasks:
  hold_b1: { labels: { slot: b1 }, steps: [ { run: ${JSON.stringify(`${touch("b1-busy")} && ${wait("used")}`)} } ] }
`);
  const run = await cluster.waitRun(id, 60_000);
  expect(run.result).toBe("success");
  expect(newPrefetch(marks, /prefetched \S+: 30\d entries/)).toBe("b1");
  expect(await ranOn(id, "use")).toBe("b2");
  expect(await cluster.log(id, "use", 0)).toMatch(/^restored the workspace of build: 302 files \(.+ compressed\)\n$/);
  expect(await cluster.log(id, "use", 1)).toBe(expected());
  for (const held of [hold, other]) expect((await cluster.waitRun(held, 30_000)).result).toBe("success");
}, 90_000);

test("a saving agent killed mid-upload leaves no usable copy; the retried save is restored correctly", async () => {
  // large enough that the upload is still going when the first prefetched bytes land
  const big = join(cluster.dir, "big");
  mkdirSync(big);
  const id = await cluster.submit(
    pipeline([]).replace(`cp -a '${src}' ws`, `cp -a '${src}' ws && head -c 400000000 /dev/urandom > ws/huge.bin && cp ws/huge.bin '${big}/'`),
  );
  const before = Object.fromEntries(["b1", "b2"].map((name) => [name, keptFiles(name).length]));
  const marks = outputs();
  const holder = await waitFor("the prefetch to start", () => ["b1", "b2"].find((name) => keptFiles(name).length > before[name]!), 60_000, 5);
  killGroup(agents.saver!.proc, "SIGKILL");
  await waitFor("the prefetch to be dropped", () => newPrefetch(marks, /prefetch of \S+ dropped/), 30_000);
  await waitFor("its files to go", () => keptFiles(holder).length === before[holder]);
  agents.saver = await cluster.startAgent("saver", SAVER);
  const run = await cluster.waitRun(id, 90_000);
  expect(run.result).toBe("success");
  expect(run.tasks.find((t) => t.name === "build")!.attempts.length).toBe(2);
  // what the retried attempt saved: the tree and its huge file, beside the tree the other tests save (they run in any order)
  const saved = join(cluster.dir, "src-huge");
  Bun.spawnSync(["cp", "-a", src, saved]);
  Bun.spawnSync(["cp", join(big, "huge.bin"), join(saved, "huge.bin")]);
  expect(await cluster.log(id, "use", 1)).toBe(expected(saved));
}, 120_000);

test("a saver that keeps nothing is not preferred for the restore: the agent the workspace was prefetched to is", async () => {
  await cluster.startAgent("c-saver", ["--label", "role=c", "--label", "who=c-saver", "--keep-workspaces", "0"]);
  await cluster.startAgent("c-other", ["--label", "role=c"]);
  const id = await cluster.submit(
    pipeline([]).replace("labels: { role: a }", "labels: { who: c-saver }").replace("labels: { role: b }", "labels: { role: c }"),
  );
  expect((await cluster.waitRun(id, 60_000)).result).toBe("success");
  expect(await ranOn(id, "use")).toBe("c-other");
  expect(await cluster.log(id, "use", 0)).toMatch(/moved from the copy prefetched to this agent\n$/);
}, 60_000);
