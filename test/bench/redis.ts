import { createServer } from "node:net";
import type { Subprocess } from "bun";
import { captureOutput, killGroup, spawnTracked, waitFor } from "../helpers/processes.ts";

export interface Redis {
  port: number;
  proc: Subprocess;
  stop(): void;
}

/** A port nobody listens on now (the kernel picks it), for a server that cannot be told to pick one itself. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Debian's redis-server on 127.0.0.1, in its throughput mode (no RDB snapshots, no append-only file),
 * as BullMQ's users run it when they want it fast. Missing, it is a failure that says what to install.
 */
export async function startRedis(): Promise<Redis> {
  if (!Bun.which("redis-server")) {
    throw new Error(
      "redis-server is not installed: `apt-get install -y redis-server` (it is in .ci/run's package list); the BullMQ baselines need it",
    );
  }
  const port = await freePort();
  const proc = spawnTracked([
    "redis-server",
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
  ]);
  const out = captureOutput(proc.stdout);
  const state = await waitFor(
    "redis-server to accept connections",
    () => (proc.exitCode !== null ? "exited" : out.text().includes("Ready to accept connections") && "ready"),
    10_000,
  );
  if (state === "exited") throw new Error(`redis-server exited with ${proc.exitCode}:\n${out.text()}`);
  return { port, proc, stop: () => killGroup(proc) };
}
