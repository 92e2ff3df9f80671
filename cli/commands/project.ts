import { readFileSync } from "node:fs";
import type { RunSummary } from "../api-types.ts";
import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client } from "../client.ts";
import type { Command } from "../command.ts";
import { followToEnd } from "../watch.ts";
import { printJson, runLabel, table } from "../output.ts";

interface Project {
  name: string;
  repo: { url: string; forge: string; credentials: string | null };
  default_branch: string;
  hook_url: string;
  hook_secret?: string;
}

/**
 * A credentials file holds a private key (PEM or OpenSSH), the JSON the API takes ({"token"}, {"username",
 * "password"}, {"ssh_key"}), or a bare token on one line. A file keeps the secret out of shell history and `ps`.
 */
function readCredentials(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read --credentials-file: ${(e as Error).message}`);
  }
  if (text.trimStart().startsWith("-----BEGIN")) return { ssh_key: text };
  if (text.trimStart().startsWith("{")) {
    try {
      return JSON.parse(text);
    } catch {
      throw new UsageError(`--credentials-file ${path} starts with { but is not JSON`);
    }
  }
  const token = text.trim();
  if (!token || token.includes("\n")) throw new UsageError(`--credentials-file ${path}: expected one token, a key or JSON`);
  return token;
}

async function add(client: Client, argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    repo: { type: "string" },
    forge: { type: "string" },
    "credentials-file": { type: "string" },
    "api-url": { type: "string" },
    "default-branch": { type: "string" },
    "pipeline-path": { type: "string" },
    poll: { type: "string" },
    "fork-approval": { type: "boolean" },
    json: { type: "boolean" },
  });
  const [name, ...extra] = positionals;
  noExtra(extra);
  if (!name) throw new UsageError("which project name?");
  if (!values.repo) throw new UsageError("--repo URL is required");
  const credentials = values["credentials-file"] ? readCredentials(values["credentials-file"]) : undefined;
  const created = await client.json<Project>("POST", "/api/v1/projects", {
    name,
    repo: { url: values.repo, forge: values.forge, credentials },
    api_url: values["api-url"],
    default_branch: values["default-branch"],
    pipeline_path: values["pipeline-path"],
    poll: values.poll,
    fork_approval: values["fork-approval"],
  });
  if (values.json) {
    printJson(created);
    return 0;
  }
  console.log(`project ${created.name} added (${created.repo.forge}, ${created.repo.url})`);
  console.log(`webhook URL:    ${created.hook_url}`);
  console.log(`webhook secret: ${created.hook_secret} (shown only now)`);
  return 0;
}

async function list(client: Client, argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { json: { type: "boolean" } });
  noExtra(positionals);
  const { projects } = await client.json<{ projects: Project[] }>("GET", "/api/v1/projects");
  if (values.json) printJson(projects);
  else {
    const rows = projects.map((p) => [p.name, p.repo.forge, p.repo.url, p.default_branch, p.repo.credentials ?? "-"]);
    console.log(table(["NAME", "FORGE", "REPOSITORY", "BRANCH", "CREDENTIALS"], rows));
  }
  return 0;
}

async function start(client: Client, argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    branch: { type: "string" },
    sha: { type: "string" },
    tag: { type: "string" },
    json: { type: "boolean" },
    "no-follow": { type: "boolean" },
  });
  const [name, ...extra] = positionals;
  noExtra(extra);
  if (!name) throw new UsageError("which project?");
  const at = { branch: values.branch, sha: values.sha, tag: values.tag };
  if (Object.values(at).filter(Boolean).length > 1) throw new UsageError("give at most one of --branch, --sha and --tag");
  const created = await client.json<RunSummary>("POST", `/api/v1/projects/${encodeURIComponent(name)}/runs`, at);
  if (values["no-follow"]) {
    if (values.json) printJson(created);
    else console.log(`${runLabel(created)} ${created.id} ${created.source?.sha ?? ""}`);
    return 0;
  }
  return followToEnd(client, created, values.json);
}

async function remove(client: Client, argv: string[]): Promise<number> {
  const [name, ...extra] = parseFlags(argv, {}).positionals;
  noExtra(extra);
  if (!name) throw new UsageError("which project?");
  await client.json("DELETE", `/api/v1/projects/${encodeURIComponent(name)}`);
  console.log(`project ${name} deleted (its runs stay)`);
  return 0;
}

const ACTIONS: Record<string, (client: Client, argv: string[]) => Promise<number>> = { add, list, run: start, rm: remove };

export const project: Command = {
  name: "project",
  summary: "add, list, run or remove projects: repositories whose commits Drover builds",
  usage:
    "drover project add NAME --repo URL [--forge github|gitea|forgejo|gitlab|git] [--credentials-file F] [--api-url U] " +
    "[--default-branch B] [--pipeline-path P] [--poll 2m] [--fork-approval] | drover project list [--json] | " +
    "drover project run NAME [--branch B | --sha S | --tag T] [--no-follow] [--json] | drover project rm NAME",
  async run(argv) {
    const [action, ...rest] = argv;
    const verb = action && Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
    if (!verb) throw new UsageError(`unknown action "${action ?? ""}": add, list, run or rm`);
    return verb(new Client(), rest);
  },
};
