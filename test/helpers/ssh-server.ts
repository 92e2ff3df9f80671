import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./processes.ts";

/**
 * Debian's sshd on 127.0.0.1 for tests of git over SSH: it lets in the current user with `deployKey` only
 * (a fresh ed25519 key), so `ssh://USER@127.0.0.1:PORT/ABSOLUTE/PATH.git` reaches any bare repository here.
 */
export interface SshServer {
  port: number;
  /** the login: this process's user */
  user: string;
  /** the private key (OpenSSH format) authorized to log in */
  deployKey: string;
  /** a private key sshd does not know */
  strangerKey: string;
  /** `ssh://user@127.0.0.1:port` + an absolute path */
  urlFor(path: string): string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export async function startSshServer(): Promise<SshServer> {
  const dir = mkdtempSync(join(tmpdir(), "drover-sshd-"));
  const keygen = (file: string) => Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "drover-test", "-f", join(dir, file)]);
  keygen("host");
  keygen("deploy");
  keygen("stranger");
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "deploy.pub")));
  // privilege separation wants its empty directory
  mkdirSync("/run/sshd", { recursive: true });
  const port = await freePort();
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      "",
    ].join("\n"),
  );
  const proc = Bun.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", join(dir, "sshd_config")], { stdout: "ignore", stderr: "pipe" });
  await waitFor("sshd to listen", async () => {
    if (proc.exitCode !== null) throw new Error(`sshd exited: ${await new Response(proc.stderr).text()}`);
    return Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((s) => (s.end(), true)).catch(() => false);
  });
  // os.userInfo() says "unknown" for root under Bun
  const user = Bun.spawnSync(["id", "-un"]).stdout.toString().trim();
  return {
    port,
    user,
    deployKey: readFileSync(join(dir, "deploy"), "utf8"),
    strangerKey: readFileSync(join(dir, "stranger"), "utf8"),
    urlFor: (path) => `ssh://${user}@127.0.0.1:${port}${path}`,
    async stop() {
      proc.kill();
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
