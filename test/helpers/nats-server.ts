import { existsSync } from "node:fs";
import type { Subprocess } from "bun";
import { captureOutput, killGroup, spawnTracked, waitFor } from "./processes.ts";

/** Debian's nats-server; the tests that need it skip themselves (loudly, in scripts/test) without it. */
export const NATS_SERVER = "/usr/sbin/nats-server";
export const haveNats = existsSync(NATS_SERVER);
if (!haveNats) console.warn(`!! SKIPPING the NATS tests: ${NATS_SERVER} is missing (apt-get install -y nats-server)`);

export interface NatsServer {
  url: string;
  port: number;
  /** Stops the server (SIGTERM by default) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Sends a signal and returns (SIGSTOP: a server that hangs without closing its connections). */
  signal(signal: NodeJS.Signals): void;
}

/** A port nothing listens on now, for a server that must come back on the same one. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** A nats-server of its own on 127.0.0.1, on a free port by default. */
export async function startNatsServer(port = freePort()): Promise<NatsServer> {
  let proc: Subprocess | null = null;
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    async start() {
      const started = spawnTracked([NATS_SERVER, "-a", "127.0.0.1", "-p", String(port)]);
      proc = started;
      const err = captureOutput(started.stderr);
      await waitFor(
        "nats-server to be ready",
        () => {
          if (started.exitCode !== null) throw new Error(`nats-server exited: ${err.text()}`);
          return err.text().includes("Server is ready");
        },
        10_000,
        20,
      );
    },
    signal(signal) {
      if (proc) killGroup(proc, signal);
    },
    async stop(signal = "SIGTERM") {
      if (!proc) return;
      killGroup(proc, signal);
      await proc.exited;
      proc = null;
    },
  };
  await server.start();
  return server;
}
