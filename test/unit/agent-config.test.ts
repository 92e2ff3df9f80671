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
