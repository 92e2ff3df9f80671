import Ajv from "ajv";
import openapi from "@octokit/openapi/generated/api.github.com.json" with { type: "json" };

/**
 * A forge's REST API for tests, on 127.0.0.1: records every request and checks it. Requests under
 * `/github/` (GitHub and Gitea/Forgejo clients) are validated against the `repos/create-commit-status`
 * operation of GitHub's published OpenAPI description: method, path and its parameters, the JSON content
 * type the operation declares, and the body against its schema. Requests under `/gitlab/` are checked
 * against GitLab's commit status API (`POST /projects/:id/statuses/:sha`). Anything else is a mismatch.
 * `answer` sets the status every request gets (201 by default).
 */
export interface ForgeApi {
  /** http://127.0.0.1:PORT/github and …/gitlab: the API base URLs a project is given */
  githubUrl: string;
  gitlabUrl: string;
  requests: ForgeApiRequest[];
  /** every way a request differed from the operation; a test expects this empty */
  mismatches: string[];
  answer: number;
  stop(): Promise<void>;
}

export interface ForgeApiRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema: object;
  "x-multi-segment"?: boolean;
}

type Doc = {
  paths: Record<
    string,
    Record<
      string,
      { operationId?: string; parameters?: unknown[]; requestBody?: { content: Record<string, { schema: object }> } }
    >
  >;
  components: Record<string, Record<string, unknown>>;
};

/** Local `$ref`s replaced by what they point at, so the operation can be checked on its own. */
function deref(node: unknown, doc: Doc): unknown {
  if (Array.isArray(node)) return node.map((n) => deref(n, doc));
  if (!node || typeof node !== "object") return node;
  const ref = (node as { $ref?: string }).$ref;
  if (ref) {
    const [, kind, name] = /^#\/components\/([^/]+)\/(.+)$/.exec(ref) ?? [];
    return deref(doc.components[kind!]?.[name!], doc);
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, deref(v, doc)]));
}

function operation(id: string) {
  const doc = openapi as unknown as Doc;
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (op.operationId !== id) continue;
      const parameters = deref(op.parameters ?? [], doc) as Parameter[];
      const content = deref(op.requestBody?.content, doc) as Record<string, { schema: object }>;
      return { method: method.toUpperCase(), path, parameters, content };
    }
  }
  throw new Error(`no operation ${id} in GitHub's OpenAPI description`);
}

// OpenAPI 3.0 schemas: Ajv knows `nullable`; the `x-` extensions and `example`s are not JSON Schema keywords
const ajv = new Ajv({ allErrors: true, strict: false });

const createStatus = operation("repos/create-commit-status");
const pathPattern = new RegExp(
  `^${createStatus.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const multi = createStatus.parameters.find((p) => p.name === name)?.["x-multi-segment"];
    return `(?<${name}>${multi ? ".+" : "[^/]+"})`;
  })}$`,
);
const validateBody = ajv.compile(createStatus.content["application/json"]!.schema);

function checkGithub(req: ForgeApiRequest, path: string): string[] {
  const problems: string[] = [];
  const at = `${req.method} ${req.path}`;
  if (req.method !== createStatus.method) problems.push(`${at}: method is not ${createStatus.method}`);
  const match = pathPattern.exec(path);
  if (!match) return [...problems, `${at}: path does not match ${createStatus.path}`];
  for (const p of createStatus.parameters) {
    const value = p.in === "path" ? match.groups?.[p.name] : p.in === "header" ? req.headers[p.name.toLowerCase()] : undefined;
    if (value === undefined) {
      if (p.required) problems.push(`${at}: required ${p.in} parameter ${p.name} missing`);
      continue;
    }
    const validate = ajv.compile(p.schema);
    if (!validate(decodeURIComponent(value))) problems.push(`${at}: ${p.name}: ${ajv.errorsText(validate.errors)}`);
  }
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim();
  if (!(type in createStatus.content)) problems.push(`${at}: content type ${type || "(none)"} is not one the operation takes`);
  if (!validateBody(req.body)) problems.push(`${at}: body: ${ajv.errorsText(validateBody.errors)}`);
  // GitHub refuses API requests without a User-Agent
  if (!req.headers["user-agent"]) problems.push(`${at}: no User-Agent`);
  return problems;
}

const GITLAB_STATES = new Set(["pending", "running", "success", "failed", "canceled", "skipped"]);

function checkGitlab(req: ForgeApiRequest, path: string): string[] {
  const at = `${req.method} ${req.path}`;
  const problems: string[] = [];
  if (req.method !== "POST") problems.push(`${at}: method is not POST`);
  // the project is one path segment: its id or its url-encoded path
  if (!/^\/projects\/[^/]+\/statuses\/[0-9a-f]{40}$/.test(path)) problems.push(`${at}: path is not /projects/:id/statuses/:sha`);
  if (!GITLAB_STATES.has(String(req.body.state))) problems.push(`${at}: state ${req.body.state} is not one of GitLab's`);
  for (const field of ["name", "target_url", "description"]) {
    if (req.body[field] !== undefined && typeof req.body[field] !== "string") problems.push(`${at}: ${field} is not a string`);
  }
  if (!req.headers["private-token"] && !req.headers.authorization) problems.push(`${at}: no PRIVATE-TOKEN or Authorization`);
  return problems;
}

export function startForgeApi(): ForgeApi {
  const api: ForgeApi = {
    githubUrl: "",
    gitlabUrl: "",
    requests: [],
    mismatches: [],
    answer: 201,
    stop: async () => server.stop(true),
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(raw) {
      const url = new URL(raw.url);
      const text = await raw.text();
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text);
      } catch {
        api.mismatches.push(`${raw.method} ${url.pathname}: body is not JSON: ${text.slice(0, 100)}`);
      }
      const req = { method: raw.method, path: url.pathname, headers: Object.fromEntries(raw.headers), body };
      api.requests.push(req);
      if (url.pathname.startsWith("/github/")) api.mismatches.push(...checkGithub(req, url.pathname.slice("/github".length)));
      else if (url.pathname.startsWith("/gitlab/"))
        api.mismatches.push(...checkGitlab(req, url.pathname.slice("/gitlab".length)));
      else api.mismatches.push(`${raw.method} ${url.pathname}: not an API this forge serves`);
      return Response.json(api.answer < 300 ? { id: api.requests.length } : { message: "refused" }, { status: api.answer });
    },
  });
  api.githubUrl = `http://127.0.0.1:${server.port}/github`;
  api.gitlabUrl = `http://127.0.0.1:${server.port}/gitlab`;
  return api;
}
