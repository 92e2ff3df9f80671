import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { CheckoutSpec } from "../../shared/protocol/index.ts";

/**
 * A git server for tests on 127.0.0.1: git's own `git http-backend` (smart HTTP, protocol v0/v2,
 * fetch and push) behind a small Bun HTTP server in the test process.
 *
 * - Private repositories answer 401 to any request without the server's token in basic auth
 *   (as the user name or as the password, so both `x-access-token:<token>` and `<token>:` work).
 *   Pushes always need the token; fetches from public repositories do not.
 * - Every request is recorded in `requests` (method, path, service, whether it carried the token, status).
 * - `commit()` writes files in a work clone kept beside the repositories and pushes them over HTTP;
 *   `git()` runs any git command in that clone (branches, tags, force-pushes). Neither puts the token on
 *   a command line: `authEnv()` hands git an Authorization header through GIT_CONFIG_* variables.
 */
export interface GitServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The secret a private repository or any push demands. */
  token: string;
  /** Bare repositories live here, `<root>/repos/<name>`; work clones under `<root>/work/<name>`. */
  root: string;
  requests: GitRequest[];
  /** Makes an empty bare repository (default branch main); returns its clone URL (no credentials in it). */
  createRepo(name: string, opts?: { private?: boolean }): string;
  /** Writes `files` (null deletes) in the repo's work clone, commits on `branch` (default main), pushes; returns the sha. */
  commit(name: string, files: Record<string, string | null>, opts?: { branch?: string; message?: string }): Promise<string>;
  /** Runs git in the repo's work clone with the token in its environment; returns stdout, throws with stderr. */
  git(name: string, ...args: string[]): Promise<string>;
  /** Environment that makes git send the token to this server (merge into a git process's env). */
  authEnv(): Record<string, string>;
  /** The bare repository's directory. */
  repoDir(name: string): string;
  stop(): Promise<void>;
}

export interface GitRequest {
  method: string;
  /** Path below the server root, e.g. `/org/demo.git/git-upload-pack`. */
  path: string;
  /** `git-upload-pack` (fetch) or `git-receive-pack` (push), from the path or `?service=`. */
  service: string;
  authorized: boolean;
  status: number;
}

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: "Drover Test",
  GIT_AUTHOR_EMAIL: "test@drover.invalid",
  GIT_COMMITTER_NAME: "Drover Test",
  GIT_COMMITTER_EMAIL: "test@drover.invalid",
};

/** Runs git; resolves with stdout, rejects with git's stderr. */
export async function runGit(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<string> {
  const proc = Bun.spawn(["git", ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...GIT_IDENTITY, GIT_TERMINAL_PROMPT: "0", ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`git ${args[0]} failed (${code}): ${err.trim()}`);
  return out;
}

function tokenIn(header: string | null, token: string): boolean {
  if (!header?.startsWith("Basic ")) return false;
  const [user, ...rest] = Buffer.from(header.slice(6), "base64").toString().split(":");
  return user === token || rest.join(":") === token;
}

/** Splits `git http-backend`'s CGI output into a streamed Response (headers end at the first blank line). */
async function cgiResponse(stdout: ReadableStream<Uint8Array>): Promise<Response> {
  const reader = stdout.getReader();
  let head = new Uint8Array(0);
  let end = -1;
  while (end < 0) {
    const { done, value } = await reader.read();
    if (done) break;
    head = Buffer.concat([head, value]);
    end = Buffer.from(head).indexOf("\r\n\r\n");
  }
  const headerText = Buffer.from(head.subarray(0, end < 0 ? head.length : end)).toString("latin1");
  const rest = end < 0 ? new Uint8Array(0) : head.subarray(end + 4);
  const headers = new Headers();
  let status = 200;
  for (const line of headerText.split("\r\n")) {
    const i = line.indexOf(":");
    if (i < 0) continue;
    const [key, value] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
    if (key.toLowerCase() === "status") status = Number.parseInt(value, 10);
    else headers.set(key, value);
  }
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      if (rest.length) c.enqueue(rest);
    },
    async pull(c) {
      const { done, value } = await reader.read();
      if (done) c.close();
      else c.enqueue(value);
    },
  });
  return new Response(body, { status, headers });
}

/** An assignment's checkout of `sha` on main from this server, with its token; `more` overrides any field. */
export function checkoutSpec(server: GitServer, url: string, sha: string, more: Partial<CheckoutSpec> = {}): CheckoutSpec {
  return {
    url,
    sha,
    ref: "refs/heads/main",
    depth: null,
    submodules: false,
    path: "",
    credentials: { kind: "token", username: "x-access-token", token: server.token },
    ...more,
  };
}

export function startGitServer(): GitServer {
  const root = mkdtempSync(join(tmpdir(), "drover-git-server-"));
  const repos = join(root, "repos");
  const work = join(root, "work");
  mkdirSync(repos);
  const token = `test-token-${randomBytes(12).toString("hex")}`;
  const privateRepos = new Set<string>();
  const requests: GitRequest[] = [];

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const path = decodeURIComponent(url.pathname);
      const service = url.searchParams.get("service") ?? path.split("/").pop() ?? "";
      const repo = /^\/(.+?\.git)\//.exec(path)?.[1] ?? "";
      const authorized = tokenIn(req.headers.get("authorization"), token);
      const record = (status: number) => requests.push({ method: req.method, path, service, authorized, status });
      if (!authorized && (privateRepos.has(repo) || service === "git-receive-pack")) {
        record(401);
        return new Response("token required\n", { status: 401, headers: { "WWW-Authenticate": 'Basic realm="drover-test"' } });
      }
      const proc = Bun.spawn(["git", "http-backend"], {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          GIT_PROJECT_ROOT: repos,
          GIT_HTTP_EXPORT_ALL: "1",
          PATH_INFO: path,
          QUERY_STRING: url.search.slice(1),
          REQUEST_METHOD: req.method,
          CONTENT_TYPE: req.headers.get("content-type") ?? "",
          HTTP_CONTENT_ENCODING: req.headers.get("content-encoding") ?? "",
          GIT_PROTOCOL: req.headers.get("git-protocol") ?? "",
          REMOTE_USER: "test",
          REMOTE_ADDR: "127.0.0.1",
        },
        stdin: req.body ? req : "ignore",
        stdout: "pipe",
        stderr: "ignore",
      });
      const res = await cgiResponse(proc.stdout);
      record(res.status);
      return res;
    },
  });
  const url = `http://127.0.0.1:${server.port}`;

  const authEnv = () => ({
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: `http.${url}/.extraHeader`,
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`,
  });
  const repoDir = (name: string) => join(repos, name);
  const workDir = (name: string) => join(work, name);
  const git = (name: string, ...args: string[]) => runGit(args, { cwd: workDir(name), env: authEnv() });

  return {
    url,
    token,
    root,
    requests,
    repoDir,
    authEnv,
    git,
    createRepo(name, opts = {}) {
      if (!name.endsWith(".git")) throw new Error(`repository names end in .git: ${name}`);
      const bare = repoDir(name);
      mkdirSync(bare, { recursive: true });
      Bun.spawnSync(["git", "init", "-q", "--bare", "-b", "main", bare]);
      Bun.spawnSync(["git", "-C", bare, "config", "http.receivepack", "true"]);
      // Lets tests fetch a commit by sha (as an agent does for a sha no branch points at any more).
      Bun.spawnSync(["git", "-C", bare, "config", "uploadpack.allowAnySHA1InWant", "true"]);
      mkdirSync(workDir(name), { recursive: true });
      Bun.spawnSync(["git", "init", "-q", "-b", "main", workDir(name)]);
      Bun.spawnSync(["git", "-C", workDir(name), "remote", "add", "origin", `${url}/${name}`]);
      if (opts.private) privateRepos.add(name);
      return `${url}/${name}`;
    },
    async commit(name, files, opts = {}) {
      const branch = opts.branch ?? "main";
      const dir = workDir(name);
      const current = (await git(name, "symbolic-ref", "--short", "HEAD")).trim();
      if (current !== branch) await git(name, "checkout", "-q", "-B", branch);
      for (const [file, content] of Object.entries(files)) {
        const at = join(dir, file);
        if (content === null) rmSync(at, { force: true });
        else {
          mkdirSync(dirname(at), { recursive: true });
          writeFileSync(at, content);
        }
      }
      await git(name, "add", "-A");
      await git(name, "commit", "-q", "--allow-empty", "-m", opts.message ?? `change ${Object.keys(files).join(", ")}`);
      await git(name, "push", "-q", "origin", `HEAD:refs/heads/${branch}`);
      return (await git(name, "rev-parse", "HEAD")).trim();
    },
    async stop() {
      await server.stop(true);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
