import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CheckoutSpec } from "../../shared/protocol/index.ts";
import { Redactor } from "../logs/redactor.ts";

/** A failed git command: the message is git's own stderr, with the credentials redacted. */
export class GitError extends Error {}

/**
 * How git gets the clone credentials without them reaching any command line, log or file in the work dir:
 * a token becomes an `Authorization` header set through GIT_CONFIG_* variables of the git processes only
 * (scoped to the repository's host, so submodules there get it too); an SSH key is a 0600 file in a private
 * temp dir outside the work dir, named by GIT_SSH_COMMAND, removed by `dispose()`.
 */
export class GitAccess {
  readonly env: Record<string, string>;
  /** the secret and the forms a remote or git could echo it in */
  readonly secrets: string[];
  private readonly keyDir: string | null = null;

  /** `signal` ends the git processes running when it aborts (the attempt was cancelled or timed out). */
  constructor(
    url: string,
    credentials: CheckoutSpec["credentials"],
    private readonly signal?: AbortSignal,
  ) {
    this.env = {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: process.env.HOME ?? tmpdir(),
      LANG: "C.UTF-8",
      // never ask on a terminal; never run the user's askpass with our URL
      GIT_TERMINAL_PROMPT: "0",
      GIT_ASKPASS: "true",
      SSH_ASKPASS: "true",
    };
    this.secrets = [];
    if (credentials?.kind === "token") {
      const basic = Buffer.from(`${credentials.username}:${credentials.token}`).toString("base64");
      Object.assign(this.env, {
        GIT_CONFIG_COUNT: "1",
        GIT_CONFIG_KEY_0: `http.${originOf(url)}/.extraHeader`,
        GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
      });
      this.secrets.push(credentials.token, basic);
    } else if (credentials?.kind === "ssh") {
      this.keyDir = mkdtempSync(join(tmpdir(), "drover-ssh-"));
      chmodSync(this.keyDir, 0o700);
      const key = join(this.keyDir, "key");
      writeFileSync(key, credentials.privateKey.endsWith("\n") ? credentials.privateKey : `${credentials.privateKey}\n`, {
        mode: 0o600,
      });
      // a deploy key alone, and a host key learnt on first use (agents have no known_hosts of their own)
      this.env.GIT_SSH_COMMAND = `ssh -i ${key} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=${join(this.keyDir, "known_hosts")}`;
      this.secrets.push(credentials.privateKey.trim());
    }
  }

  /** whether the attempt was stopped: its git processes are being ended */
  get aborted(): boolean {
    return this.signal?.aborted ?? false;
  }

  redact(text: string): string {
    const r = new Redactor(this.secrets);
    return Buffer.concat([r.push(Buffer.from(text)), r.flush()]).toString();
  }

  /** Runs git with the credentials (and `env`) in its environment; stdout on success, GitError with stderr otherwise. */
  async git(args: string[], cwd?: string, env: Record<string, string> = {}): Promise<string> {
    const proc = Bun.spawn(["git", ...args], { cwd, env: { ...this.env, ...env }, stdin: "ignore", signal: this.signal, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new GitError(this.redact(err.trim() || `git ${args[0]} exited with ${code}`));
    return out;
  }

  /** Whether `git args` succeeds (for questions such as "is this commit here?"). */
  async ok(args: string[], cwd?: string): Promise<boolean> {
    const proc = Bun.spawn(["git", ...args], { cwd, env: this.env, stdin: "ignore", signal: this.signal, stdout: "ignore", stderr: "ignore" });
    return (await proc.exited) === 0;
  }

  dispose(): void {
    if (this.keyDir) rmSync(this.keyDir, { recursive: true, force: true });
  }
}

/** `https://host:port` of an HTTP(S) URL (the scope of the auth header); other URLs have no origin. */
function originOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return url;
  }
}

/**
 * The URL without credentials, for logs and the clone's `origin`: over HTTP(S) the user and password go
 * (a token is often given as the user); over SSH the user is the login (`ssh://git@host/…`) and stays.
 */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    const http = u.protocol === "http:" || u.protocol === "https:";
    if (!u.password && !(http && u.username)) return url;
    if (http) u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}
