import { expect, test } from "bun:test";
import { parseAgentConfig } from "../../agent/config.ts";

const base = ["--coordinator", "http://127.0.0.1:1", "--token", "t", "--name", "a"];

test("--keep-workspaces: 4 GiB by default, a size, or 0 to keep none; anything else is refused with the reason", () => {
  expect(parseAgentConfig(base, {}).keepWorkspacesBytes).toBe(4 * 1024 ** 3);
  expect(parseAgentConfig([...base, "--keep-workspaces", "512M"], {}).keepWorkspacesBytes).toBe(512 * 1024 ** 2);
  expect(parseAgentConfig([...base, "--keep-workspaces", "0"], {}).keepWorkspacesBytes).toBe(0);
  expect(parseAgentConfig(base, { DROVER_AGENT_KEEP_WORKSPACES: "0" }).keepWorkspacesBytes).toBe(0);
  expect(() => parseAgentConfig([...base, "--keep-workspaces", "lots"], {})).toThrow(
    '--keep-workspaces wants a byte count, a size like 4G, or 0, got "lots"',
  );
  expect(() => parseAgentConfig([...base, "--keep-workspaces=-1"], {})).toThrow(/--keep-workspaces wants/);
});

test("checkout flags: mirrors under the work dir and a 10 GiB budget by default, two kept trees a repository in 5 GiB in the agent's own dir; --allowed-repos must be a regular expression", () => {
  const config = parseAgentConfig([...base, "--work-dir", "/tmp/drover-a"], {});
  expect(config.checkout).toEqual({
    mirrorsDir: "/tmp/drover-a/git-mirrors",
    budgetBytes: 10 * 1024 ** 3,
    allowedRepos: null,
    lockTimeoutMs: 120_000,
    kept: { dir: "/tmp/drover-a/agent-a/checkouts", perRepository: 2, budgetBytes: 5 * 1024 ** 3 },
  });
  const set = parseAgentConfig(
    [
      ...base,
      "--git-mirrors",
      "/var/cache/mirrors",
      "--git-mirrors-budget",
      "512M",
      "--allowed-repos",
      "https://github\\.com/acme/.*",
      "--kept-checkouts",
      "1",
      "--kept-checkouts-budget",
      "1G",
    ],
    { DROVER_GIT_MIRROR_LOCK_MS: "500" },
  );
  expect(set.checkout).toMatchObject({
    mirrorsDir: "/var/cache/mirrors",
    budgetBytes: 512 * 1024 ** 2,
    allowedRepos: "https://github\\.com/acme/.*",
    lockTimeoutMs: 500,
    kept: { perRepository: 1, budgetBytes: 1024 ** 3 },
  });
  expect(parseAgentConfig(base, { DROVER_AGENT_KEPT_CHECKOUTS: "0" }).checkout.kept.perRepository).toBe(0);
  expect(() => parseAgentConfig([...base, "--kept-checkouts", "some"], {})).toThrow('--kept-checkouts wants a whole number (0 keeps none), got "some"');
  expect(
    parseAgentConfig(base, { DROVER_AGENT_GIT_MIRRORS_BUDGET: "0", DROVER_AGENT_ALLOWED_REPOS: "x" }).checkout,
  ).toMatchObject({
    budgetBytes: 0,
    allowedRepos: "x",
  });
  expect(() => parseAgentConfig([...base, "--git-mirrors-budget", "huge"], {})).toThrow(
    '--git-mirrors-budget wants a byte count, a size like 10G, or 0, got "huge"',
  );
  expect(() => parseAgentConfig(base, { DROVER_GIT_MIRROR_LOCK_MS: "soon" })).toThrow('DROVER_GIT_MIRROR_LOCK_MS wants milliseconds, got "soon"');
  expect(() => parseAgentConfig([...base, "--allowed-repos", "https://(github"], {})).toThrow(
    /--allowed-repos wants a regular expression: .+/,
  );
});

test("--coordinator takes one URL or several separated by commas; anything but http(s) URLs is refused", () => {
  const withCoordinator = (value: string) => parseAgentConfig(["--coordinator", value, "--token", "t", "--name", "a"], {});
  expect(withCoordinator("http://127.0.0.1:1/").coordinators).toEqual(["http://127.0.0.1:1"]);
  expect(withCoordinator("http://a:8080, https://b:8443/ ,http://c:8080").coordinators).toEqual([
    "http://a:8080",
    "https://b:8443",
    "http://c:8080",
  ]);
  expect(() => withCoordinator("http://a:8080,b:8080")).toThrow('--coordinator wants http(s) URLs separated by commas, got "b:8080"');
  expect(() => withCoordinator(",")).toThrow("--coordinator names no URL");
});

test("what the agent says of itself is checked as it starts, against the bounds its hello has, not refused later at every connect", () => {
  const parse = (...flags: string[]) => parseAgentConfig([...base, ...flags], {});
  expect(parse("--capacity", "4").capacity).toBe(4);
  expect(parseAgentConfig(base, { DROVER_AGENT_CAPACITY: "3" }).capacity).toBe(3);
  for (const bad of ["abc", "0", "1.5", "1e9", "1025", ""]) {
    expect(() => parse(`--capacity=${bad}`)).toThrow(`--capacity wants a whole number from 1 to 1024, got "${bad}"`);
  }
  expect(() => parse("--cpu", "none")).toThrow('--cpu wants a number of CPUs above 0, got "none"');
  expect(() => parse("--cpu", "0")).toThrow("--cpu wants a number of CPUs above 0");
  expect(parse("--cpu", "1.5").resources.cpu).toBe(1.5);
  expect(() => parseAgentConfig([...base.slice(0, 4), "--name", "n".repeat(129)], {})).toThrow("--name wants 1 to 128 characters, got 129");
  expect(() => parse("--group", "")).toThrow("--group wants 1 to 128 characters, got 0");
  expect(() => parse("--label", `k=${"v".repeat(513)}`)).toThrow("a value of at most 512");
  expect(parseAgentConfig(base, {}).cancelGraceMs).toBe(10_000);
  // as the coordinator takes it (docs/operations.md says 10s): before, "10s" was NaN, and a cancelled step was killed at once
  expect(parseAgentConfig(base, { DROVER_CANCEL_GRACE_MS: "10s" }).cancelGraceMs).toBe(10_000);
  expect(parseAgentConfig(base, { DROVER_CANCEL_GRACE_MS: "2500" }).cancelGraceMs).toBe(2_500);
  expect(() => parseAgentConfig(base, { DROVER_CANCEL_GRACE_MS: "soon" })).toThrow(
    'DROVER_CANCEL_GRACE_MS wants milliseconds or a duration like 10s, at most 2147483647 ms, got "soon"',
  );
  expect(() => parseAgentConfig(base, { DROVER_CANCEL_GRACE_MS: "30d" })).toThrow("at most 2147483647 ms");
});
