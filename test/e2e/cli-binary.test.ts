import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { parse } from "yaml";
import { AGENT_TOKEN, ADMIN_TOKEN, ROOT } from "../helpers/cluster.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-bin-"));
afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});
const arch = process.arch === "arm64" ? "arm64" : "amd64";
const examples = readdirSync(join(ROOT, "examples"), { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".yml"))
  .map((f) => join(ROOT, "examples", f));

test("drover builds into one binary that serves the coordinator, installs itself from it, and speaks the CLI", async () => {
  const build = Bun.spawnSync(["./scripts/build-cli"], { cwd: ROOT });
  expect(build.exitCode).toBe(0);
  const built = join(ROOT, `dist/drover-linux-${arch}`);
  // run from an unrelated directory: the binary must carry its migrations, UI and install scripts
  const serve = spawnTracked([built, "serve", "--port", "0", "--data", join(dir, "data")], {
    cwd: dir,
    env: { DROVER_ADMIN_TOKEN: ADMIN_TOKEN, DROVER_AGENT_TOKEN: AGENT_TOKEN, DROVER_AGENT_DIST: join(ROOT, "dist") },
  });
  const out = captureOutput(serve.stdout);
  const url = await waitFor("the binary coordinator", () => out.text().match(/listening on (http:\/\/\S+)/)?.[1], 20_000);
  // run again in place without the JIT's top tier (cli/jit-tier.ts): the binary holds its entry point, so its arguments
  // are the binary's own
  expect(readFileSync(`/proc/${serve.pid}/environ`, "utf8").split("\0")).toContain("BUN_JSC_useFTLJIT=0");
  expect(readFileSync(`/proc/${serve.pid}/cmdline`, "utf8").split("\0")).toEqual([built, "serve", "--port", "0", "--data", join(dir, "data"), ""]);
  expect((await fetch(`${url}/install.sh`)).status).toBe(200);
  expect((await fetch(`${url}/login`)).status).toBe(200);
  // the served JSON Schema takes every example and refuses a misspelt key, as an editor would
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile((await (await fetch(`${url}/schema/drover.json`)).json()) as object);
  for (const example of examples) expect([example, validate(parse(readFileSync(example, "utf8"))), validate.errors]).toEqual([example, true, null]);
  expect(validate(parse("tasks:\n  a: { stepz: [] }\n"))).toBe(false);

  // a user installs the CLI from the coordinator, as the README says, and runs it with nothing else set
  const prefix = join(dir, "prefix");
  const script = await (await fetch(`${url}/install-cli.sh`)).text();
  const install = Bun.spawnSync(["sh", "-s", "--", "--prefix", prefix], { stdin: new TextEncoder().encode(script) });
  expect(install.stdout.toString()).toContain(`installed ${prefix}/bin/drover (${arch})`);
  expect(install.exitCode).toBe(0);
  const drover = join(prefix, "bin/drover");
  const elsewhere = join(dir, "elsewhere");
  mkdirSync(elsewhere);
  const bare = (...args: string[]) => Bun.spawnSync([drover, ...args], { cwd: elsewhere, env: { HOME: elsewhere, PATH: "/usr/bin:/bin" } });
  expect(bare("--help").stdout.toString()).toContain("lint");
  expect(bare("init").exitCode).toBe(0);
  const starter = bare("lint");
  expect([starter.exitCode, starter.stdout.toString()]).toEqual([0, ".drover.yml: ok, 2 tasks (build, test)\n"]);
  for (const example of examples) {
    const lint = bare("lint", "-f", example);
    expect([example, lint.exitCode, lint.stderr.toString()]).toEqual([example, 0, ""]);
  }
  writeFileSync(join(elsewhere, "bad.yml"), "tasks:\n  build: { steps: [ { run: x } ] }\n  test:\n    dependz: [biuld]\n    stepz: []\n");
  const bad = bare("lint", "-f", "bad.yml");
  expect(bad.exitCode).toBe(1);
  expect(bad.stderr.toString()).toBe(
    [
      'bad.yml:3:3: tasks.test: missing required key "steps"',
      'bad.yml:4:5: tasks.test.dependz: unknown key "dependz" (did you mean "depends"?)',
      'bad.yml:5:5: tasks.test.stepz: unknown key "stepz" (did you mean "steps"?)',
      "bad.yml: 3 errors",
      "",
    ].join("\n"),
  );

  const agent = spawnTracked(["bun", "agent/main.ts", "--coordinator", url, "--token", AGENT_TOKEN, "--name", "b1", "--work-dir", join(dir, "work")], { cwd: ROOT });
  const agentErr = captureOutput(agent.stderr);
  await waitFor("the agent", () => agentErr.text().includes("registered as"));

  const project = join(dir, "project");
  await Bun.write(join(project, ".drover.yml"), "tasks:\n  hello: { steps: [ { run: 'cat greeting.txt' } ] }\n");
  await Bun.write(join(project, "greeting.txt"), "hi from the binary\n");
  const env = { ...process.env, DROVER_URL: url, DROVER_TOKEN: ADMIN_TOKEN };
  const run = Bun.spawnSync([drover, "run"], { cwd: project, env });
  expect(run.exitCode).toBe(0);
  expect(run.stdout.toString()).toContain("[hello] hi from the binary");
  const runs = Bun.spawnSync([drover, "runs", "--json"], { cwd: project, env });
  expect((JSON.parse(runs.stdout.toString()) as { result: string }[])[0]!.result).toBe("success");
  expect(Bun.spawnSync([drover, "runs", "--help"]).stdout.toString()).toContain("drover runs [--group G]");
}, 120_000);

// the arm64 binary embeds arm64's libsql addon; qemu-user with Debian's arm64 sysroot runs it here
const arm64Sysroot = "/usr/aarch64-linux-gnu";
const hasQemu = Bun.which("qemu-aarch64-static") !== null && Bun.spawnSync(["test", "-e", `${arm64Sysroot}/lib/libgcc_s.so.1`]).exitCode === 0;
test.skipIf(!hasQemu)("the arm64 CLI binary lints offline and serves a coordinator, which offers it for download", async () => {
  const build = Bun.spawnSync(["./scripts/build-cli", "arm64"], { cwd: ROOT });
  expect(build.exitCode, build.stderr.toString()).toBe(0);
  const binary = join(ROOT, "dist/drover-linux-arm64");
  expect(Bun.spawnSync(["file", binary]).stdout.toString()).toContain("ARM aarch64");
  const arm64 = (...args: string[]) => ["qemu-aarch64-static", "-L", arm64Sysroot, binary, ...args];
  const lint = Bun.spawnSync(arm64("lint", "-f", examples[0]!), { cwd: dir });
  expect([lint.exitCode, lint.stderr.toString()]).toEqual([0, ""]);
  const serve = spawnTracked(arm64("serve", "--port", "0", "--data", join(dir, "arm64-data")), {
    cwd: dir,
    env: { DROVER_ADMIN_TOKEN: ADMIN_TOKEN, DROVER_AGENT_TOKEN: AGENT_TOKEN, DROVER_AGENT_DIST: join(ROOT, "dist") },
  });
  const out = captureOutput(serve.stdout);
  const url = await waitFor("the arm64 coordinator", () => out.text().match(/listening on (http:\/\/\S+)/)?.[1], 60_000);
  const runs = await fetch(`${url}/api/v1/runs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect([runs.status, await runs.json()]).toEqual([200, { runs: [] }]);
  const served = await fetch(`${url}/download/drover-linux-arm64.sha256`);
  expect((await served.text()).trim()).toBe(readFileSync(`${binary}.sha256`, "utf8").trim());
}, 120_000);
