import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Credentials, credentialSecrets } from "./credentials.ts";

/** A repository and what it takes to read it. */
export interface RepoAccess {
  url: string;
  credentials: Credentials | null;
}

export class GitError extends Error {}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/** Hides credentials, and any user:password a URL in git's message carries. */
export function redact(text: string, secrets: string[]): string {
  let out = text.replace(/(\w+:\/\/)[^/@\s]*@/g, "$1***@");
  for (const secret of secrets) if (secret) out = out.replaceAll(secret, "***");
  return out;
}

/**
 * Environment that hands the credentials to this one git process, never its argv: an HTTP Authorization
 * header scoped to the repository's URL through GIT_CONFIG_* variables (git sends it before any challenge),
 * or an SSH key in a private temporary file named by GIT_SSH_COMMAND. `cleanup` removes the key.
 */
function credentialEnv(access: RepoAccess | undefined): { env: Record<string, string>; cleanup: () => void } {
  const credentials = access?.credentials;
  if (!access || !credentials) return { env: {}, cleanup: () => {} };
  if (credentials.kind === "token") {
    const basic = Buffer.from(`${credentials.username}:${credentials.token}`).toString("base64");
    return {
      env: { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: `http.${access.url}.extraHeader`, GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` },
      cleanup: () => {},
    };
  }
  const dir = mkdtempSync(join(tmpdir(), "drover-ssh-"));
  const key = join(dir, "key");
  writeFileSync(key, credentials.privateKey, { mode: 0o600 });
  return {
    env: { GIT_SSH_COMMAND: `ssh -i '${key}' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new` },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface GitOptions {
  cwd?: string;
  /** the remote this command talks to, with its credentials */
  access?: RepoAccess;
  timeoutMs?: number;
  /** exit codes that are answers rather than failures (e.g. 1 from `cat-file -e`) */
  allow?: number[];
}

/** git with no terminal, system config, credential store or `ext::` transport, and this remote's credentials alone. */
function spawnGit(args: string[], opts: GitOptions, stdin: "ignore" | Blob) {
  const { env, cleanup } = credentialEnv(opts.access);
  const proc = Bun.spawn(["git", "-c", "credential.helper=", "-c", "core.askPass=", "-c", "protocol.ext.allow=never", ...args], {
    cwd: opts.cwd,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? tmpdir(),
      GIT_TERMINAL_PROMPT: "0",
      GIT_CONFIG_NOSYSTEM: "1",
      LC_ALL: "C",
      ...env,
    },
    stdin,
    stdout: "pipe",
    stderr: "pipe",
    timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
  return { proc, cleanup };
}

/** Runs git (see `spawnGit`); stderr comes back in errors with credentials hidden. */
export async function git(args: string[], opts: GitOptions = {}): Promise<{ code: number; stdout: string }> {
  const secrets = credentialSecrets(opts.access?.credentials ?? null);
  let cleanup = () => {};
  try {
    const spawned = spawnGit(args, opts, "ignore");
    cleanup = spawned.cleanup;
    const { proc } = spawned;
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code === 0 || opts.allow?.includes(code)) return { code, stdout };
    const why = proc.signalCode ? `timed out after ${Math.round((opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s` : `exit ${code}`;
    throw new GitError(redact(`git ${args[0]} failed (${why}): ${stderr.trim().split("\n").slice(-3).join(" ")}`, secrets));
  } finally {
    cleanup();
  }
}

/** A blob read by `readBlob`: its text, or its size alone when that was over the bound (the rest never read). */
export type BlobRead = { text: string } | { tooLarge: number } | undefined;

/**
 * The blob `spec` (`<commit>:<path>`) names in the repository at `cwd`, read by one `cat-file --batch`: undefined
 * when there is none (or a directory is there). Its size comes first, so a blob over `maxBytes` is not read:
 * the process is stopped with at most a pipe's worth of it read.
 */
export async function readBlob(cwd: string, spec: string, maxBytes: number): Promise<BlobRead> {
  const { proc } = spawnGit(["cat-file", "--batch"], { cwd }, new Blob([`${spec}\n`]));
  const reader = proc.stdout.getReader();
  let buffered = new Uint8Array(0);
  const more = async () => {
    const { done, value } = await reader.read();
    if (done) return false;
    const joined = new Uint8Array(buffered.length + value.length);
    joined.set(buffered);
    joined.set(value, buffered.length);
    buffered = joined;
    return true;
  };
  try {
    // the header is one short line: `<oid> <type> <size>`, or `<spec> missing`
    while (buffered.indexOf(10) < 0) if (buffered.length > 4096 || !(await more())) throw new GitError(`git cat-file gave no answer for ${spec}`);
    const eol = buffered.indexOf(10);
    const header = new TextDecoder().decode(buffered.subarray(0, eol)).split(" ");
    if (header.length !== 3 || header[1] !== "blob") return undefined;
    const size = Number(header[2]);
    if (size > maxBytes) return { tooLarge: size };
    while (buffered.length < eol + 1 + size) if (!(await more())) throw new GitError(`git cat-file ended within ${spec}`);
    return { text: new TextDecoder().decode(buffered.subarray(eol + 1, eol + 1 + size)) };
  } finally {
    void reader.cancel().catch(() => {});
    proc.kill();
  }
}
