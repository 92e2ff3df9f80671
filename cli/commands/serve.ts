import { readFileSync } from "node:fs";
import { CommandError, parseFlags, UsageError } from "../args.ts";
import type { Command } from "../command.ts";
import { restartWithoutTopTier } from "../jit-tier.ts";

export const serve: Command = {
  name: "serve",
  summary: "run the coordinator (HTTP API, web UI, scheduler and the agent WebSocket)",
  usage: "drover serve [--port 8080] [--host 127.0.0.1] [--data ./data] [--no-fsync] [--advertise-url URL] [--tls-cert PEM --tls-key PEM]",
  async run(argv) {
    restartWithoutTopTier();
    const { values } = parseFlags(argv, {
      port: { type: "string" },
      host: { type: "string" },
      data: { type: "string" },
      "no-fsync": { type: "boolean" },
      "advertise-url": { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
    });
    const tls = readTls(values["tls-cert"], values["tls-key"]);
    // loaded here, not at the top: the client verbs should not pay for loading the whole coordinator
    const { resolveConfig } = await import("../../coordinator/config.ts");
    const { startCoordinator } = await import("../../coordinator/server.ts");
    // A stray failure in work nobody awaits is logged, not allowed to take every run and agent down with it.
    process.on("unhandledRejection", (e) => console.error("[coordinator] unhandled failure:", e));
    let config: ReturnType<typeof resolveConfig>;
    let coordinator: Awaited<ReturnType<typeof startCoordinator>>;
    try {
      config = resolveConfig({
        port: values.port ? Number(values.port) : undefined,
        host: values.host,
        dataDir: values.data,
        noFsync: values["no-fsync"],
        nodeUrl: values["advertise-url"],
      });
      coordinator = await startCoordinator({ ...config, tls });
    } catch (e) {
      // settings that do not hold, a store or database that cannot be opened, a port taken: said in a line
      throw new CommandError(`cannot start: ${(e as Error).message}`);
    }
    console.log(`drover coordinator listening on ${coordinator.url}`);
    console.log(`data: ${config.dataDir}`);
    console.log(`admin token: ${config.adminToken}`);
    console.log(`agent token: ${config.agentToken}`);
    const shutdown = async (signal: string) => {
      console.log(`received ${signal}, stopping`);
      await coordinator.stop();
      process.exit(0);
    };
    process.once("SIGINT", () => void shutdown("SIGINT"));
    process.once("SIGTERM", () => void shutdown("SIGTERM"));
    await new Promise(() => {});
    return 0;
  },
};

/** HTTPS and WSS with this certificate and key (both PEM files), or plain HTTP with neither. */
function readTls(cert: string | undefined, key: string | undefined): { cert: string; key: string } | undefined {
  if (!cert && !key) return undefined;
  if (!cert || !key) throw new UsageError("--tls-cert and --tls-key go together");
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(`${flag} ${file}: ${(e as Error).message}`);
    }
  };
  return { cert: read("--tls-cert", cert), key: read("--tls-key", key) };
}
