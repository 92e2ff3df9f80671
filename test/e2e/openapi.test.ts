import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { createApp } from "../../coordinator/api/app.ts";
import type { Services } from "../../coordinator/services.ts";
import { DEFAULT_RETENTION } from "../../coordinator/gc/retention.ts";
import { ADMIN_TOKEN, type Cluster, startCluster } from "../helpers/cluster.ts";
import { startGitServer } from "../helpers/git-server.ts";

type Media = Record<string, { schema: object }>;
interface Operation {
  "x-drover-role": string;
  requestBody?: { content: Media };
  responses: Record<string, { content?: Media }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object> };
}
interface Reply {
  status: number;
  type: string;
  body: unknown;
}

let cluster: Cluster;
let doc: Document;
let runId: string;
const tokens: Record<string, string> = { admin: ADMIN_TOKEN };
const RANK: Record<string, number> = { viewer: 1, member: 2, admin: 3 };

/** JSON bodies are read; streams and bytes are dropped once their status and type are known. */
async function call(method: string, path: string, token?: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${cluster.coordinator.url}${path}`, {
    method: method.toUpperCase(),
    headers,
    body: JSON.stringify(body),
  });
  const type = res.headers.get("content-type") ?? "";
  if (type.startsWith("application/json")) return { status: res.status, type, body: await res.json() };
  await res.body?.cancel();
  return { status: res.status, type, body: undefined };
}

const ajv = new Ajv2020({ allErrors: true, allowUnionTypes: true });
addFormats(ajv);

/** The document's refs point at components; compiled alone, a schema carries them as $defs. */
function standalone(schema: object, closed: boolean): object {
  const text = JSON.stringify({ ...schema, $defs: doc.components.schemas }).replaceAll("#/components/schemas/", "#/$defs/");
  // Closed: every field the server sends must be documented, not only the documented ones present.
  return JSON.parse(text, (_key, value) =>
    closed && value && typeof value === "object" && value.properties && value.additionalProperties === undefined
      ? { ...value, additionalProperties: false }
      : value,
  );
}

function expectDocumented(method: string, path: string, reply: Reply) {
  const response = doc.paths[path]?.[method]?.responses[String(reply.status)];
  const schema = response?.content?.["application/json"]?.schema;
  if (!schema) throw new Error(`${method} ${path} answered ${reply.status} ${reply.type}, which the document does not describe`);
  const validate = ajv.compile(standalone(schema, true));
  if (!validate(reply.body)) {
    throw new Error(`${method} ${path} ${reply.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(reply.body)}`);
  }
}

type Json = Record<string, unknown> & { id: string; error: object };

/** Calls an endpoint and checks its JSON answer against the document; `template` is the documented path. */
async function checked(method: string, template: string, path = template, body?: unknown, token = ADMIN_TOKEN) {
  const reply = await call(method, path, token, body);
  expectDocumented(method, template, reply);
  return reply as Reply & { body: Json };
}

async function ok(...args: Parameters<typeof checked>) {
  const reply = await checked(...args);
  expect(reply.status, `${args[0]} ${args[2] ?? args[1]}: ${JSON.stringify(reply.body)}`).toBeLessThan(300);
  return reply.body;
}

async function refused(...args: Parameters<typeof checked>) {
  const reply = await checked(...args);
  expect(reply.status).toBeGreaterThanOrEqual(400);
  return reply.body.error;
}

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method, path, op })));
/**
 * A concrete path for a template: ids that name nothing, step 0; reads name the finished run, as
 * an event stream writes nothing (so fetch never resolves) until the run it follows has events.
 */
const concrete = (path: string, method: string) =>
  path.replace(/\{(\w+)\}/g, (_m, name) =>
    name === "index" || name === "step" ? "0" : name === "id" && method === "get" ? runId : "x",
  );
const noRoute = (r: Reply) => r.status === 404 && /^no route/.test((r.body as { error: { message: string } }).error.message);
const roleRefusal = (r: Reply) =>
  r.status === 403 && /needs the \w+ role/.test((r.body as { error: { message: string } }).error.message);

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startAgent("openapi");
  const res = await fetch(`${cluster.coordinator.url}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Document;
  runId = await cluster.submit("tasks:\n  t:\n    steps: [ { run: echo streamed } ]\n", "openapi");
  await cluster.waitRun(runId);
  for (const role of ["viewer", "member"]) {
    tokens[role] = (await ok("post", "/api/v1/tokens", undefined, { user: `openapi-${role}`, role })).token as string;
  }
});

afterAll(() => cluster?.stop());

describe("the OpenAPI document", () => {
  test("is served without a token and describes itself as OpenAPI 3.1", async () => {
    const reply = await call("get", "/api/v1/openapi.json");
    expect(reply.body).toMatchObject({ openapi: "3.1.0", components: { securitySchemes: { bearer: { scheme: "bearer" } } } });
  });

  test("documents every API route the app serves", () => {
    // Services are only read while a request is handled, so a stub is enough to list the routes.
    const app = createApp({} as Services, { distDir: "", retention: DEFAULT_RETENTION });
    const served = app.routes
      .filter((r) => r.method !== "ALL" && /^\/(api|agent)\//.test(r.path))
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)(\{[^}]*\})?/g, "{$1}")}`);
    expect(served.length).toBeGreaterThan(40);
    const documented = new Set(operations().map((o) => `${o.method} ${o.path}`));
    expect([...new Set(served)].filter((r) => !documented.has(r))).toEqual([]);
  });

  test("every documented operation is served and asks for the role it documents", async () => {
    for (const { method, path, op } of operations()) {
      const role = op["x-drover-role"];
      const url = concrete(path, method);
      const anonymous = await call(method, url);
      expect(noRoute(anonymous), `${method} ${path}`).toBe(false);
      if (role === "public") continue;
      expect(anonymous.status, `${method} ${path} without a token`).toBe(401);
      expectDocumented(method, path, anonymous);
      for (const [name, token] of Object.entries(tokens)) {
        const reply = await call(method, url, token);
        expect(noRoute(reply), `${method} ${path} as ${name}`).toBe(false);
        expect(reply.status, `${method} ${path} as ${name}`).toBeLessThan(500);
        const allowed = role !== "agent" && RANK[name]! >= RANK[role]!;
        expect(roleRefusal(reply), `${method} ${path} (${role}) as ${name}`).toBe(!allowed);
      }
    }
  });

  test("a body the document refuses is refused by the server with a 400", async () => {
    let tried = 0;
    for (const { method, path, op } of operations()) {
      const schema = op.requestBody?.content["application/json"]?.schema;
      // agents' routes refuse the admin's token before reading a body (s3-direct.test.ts sends them bad bodies as an agent)
      if (!schema || op["x-drover-role"] === "agent") continue;
      const validate = ajv.compile(standalone(schema, false));
      const ref = (schema as { $ref?: string }).$ref?.split("/").pop();
      const props = Object.keys(((ref ? doc.components.schemas[ref] : schema) as { properties?: object }).properties ?? {});
      for (const candidate of [[], {}, Object.fromEntries(props.map((p) => [p, 42])), { pipeline: "" }]) {
        if (validate(candidate)) continue;
        tried++;
        const reply = await call(method, concrete(path, method), ADMIN_TOKEN, candidate);
        expect(reply.status, `${method} ${path} with ${JSON.stringify(candidate)}`).toBe(400);
        expectDocumented(method, path, reply);
      }
    }
    expect(tried).toBeGreaterThan(20);
  });

  test("a body past its bound is refused with the documented 413, on every operation that takes one", async () => {
    const big = { pipeline: "x".repeat(17 * 1024 * 1024) };
    let tried = 0;
    for (const { method, path, op } of operations()) {
      // agents' routes refuse the admin's token before reading a body
      if (!op.requestBody?.content["application/json"] || op["x-drover-role"] === "agent") continue;
      const reply = await call(method, concrete(path, method), ADMIN_TOKEN, big);
      // an id that names nothing (concrete's "x") may be a 404 before the body is read
      if (reply.status === 404 && path.includes("{")) continue;
      tried++;
      expect(reply.status, `${method} ${path}`).toBe(413);
      expectDocumented(method, path, reply);
    }
    expect(tried).toBeGreaterThan(8);
  });

  test("the main endpoints answer as documented", async () => {
    const pipeline =
      "tasks:\n  build:\n    steps:\n      - run: echo hello > out.txt\n      - save_artifact: { paths: [out.txt] }\n";
    const run = await ok("post", "/api/v1/runs", undefined, { pipeline, group: "openapi", variables: { A: "1" } });
    expect((await cluster.waitRun(run.id)).result).toBe("success");
    const view = await ok("get", "/api/v1/runs/{id}", `/api/v1/runs/${run.id}`);
    expect(view.tasks).toHaveLength(1);
    await ok("get", "/api/v1/runs", "/api/v1/runs?group=openapi&limit=5");
    await ok("get", "/api/v1/runs/{id}/artifacts", `/api/v1/runs/${run.id}/artifacts`);
    const agents = await ok("get", "/api/v1/agents");
    expect(agents.agents).toHaveLength(1);
    const history = await ok("get", "/api/v1/attempts", `/api/v1/attempts?run=${run.id}`);
    expect(history.attempts).toHaveLength(1);
    await ok("get", "/api/v1/attempts/stats", "/api/v1/attempts/stats?name=build");
    await ok("get", "/api/v1/tokens");
    await ok("post", "/api/v1/agent-tokens", undefined, { group: "openapi" });
    await ok("get", "/api/v1/agent-tokens");
    await ok("put", "/api/v1/groups/{name}", "/api/v1/groups/openapi", { concurrency: 2 });
    await ok("put", "/api/v1/groups/{name}/secrets/{key}", "/api/v1/groups/openapi/secrets/TOKEN", { value: "s3cret" });
    await ok("get", "/api/v1/groups/{name}/values", "/api/v1/groups/openapi/values");
    await ok("get", "/api/v1/groups");
    const schedule = await ok("post", "/api/v1/schedules", undefined, { pipeline, cron: "0 3 * * *", group: "openapi" });
    await ok("put", "/api/v1/schedules/{id}", `/api/v1/schedules/${schedule.id}`, { enabled: false });
    await ok("get", "/api/v1/schedules");
    await ok("post", "/api/v1/hooks", undefined, { pipeline, group: "openapi" });
    await ok("get", "/api/v1/hooks");
    await ok("post", "/api/v1/gc");
    await ok("delete", "/api/v1/runs/{id}", `/api/v1/runs/${run.id}`);
  });

  test("projects answer as documented", async () => {
    const server = startGitServer();
    try {
      const repo = server.createRepo("doc/app.git");
      await server.commit("doc/app.git", { ".drover.yml": "tasks:\n  t:\n    steps: [ { run: echo hi } ]\n" });
      const created = await ok("post", "/api/v1/projects", undefined, { name: "doc", repo: { url: repo, forge: "gitlab", credentials: { ssh_key: "KEY" } }, poll: "2m" });
      expect(created).toMatchObject({ poll: "2m", api_url: `${server.url}/api/v4`, repo: { credentials: "ssh" } });
      await ok("get", "/api/v1/projects");
      await ok("get", "/api/v1/projects/{name}", "/api/v1/projects/doc");
      const run = await ok("post", "/api/v1/projects/{name}/runs", "/api/v1/projects/doc/runs", { branch: "main" });
      // number 1, or 2 when the poll duty's first poll of the project built the branch's head first
      expect(run).toMatchObject({ project: "doc", source: { event: "manual", branch: "main" } });
      expect([1, 2]).toContain(run.number as number);
      await ok("get", "/api/v1/runs/{id}", `/api/v1/runs/${run.id}`);
      await ok("get", "/api/v1/runs", "/api/v1/runs?project=doc&branch=main&event=manual");
      expect(((await refused("post", "/api/v1/projects/{name}/runs", "/api/v1/projects/doc/runs", { tag: "nope" })) as { message: string }).message).toContain("has no tag nope");
      expect(((await refused("post", "/api/v1/projects", undefined, { name: "doc", repo: { url: repo } })) as { code: string }).code).toBe("conflict");
      await cluster.waitRun(run.id);
      await ok("delete", "/api/v1/projects/{name}", "/api/v1/projects/doc");
    } finally {
      await server.stop();
    }
  });

  test("errors answer as documented", async () => {
    const bad = await refused("post", "/api/v1/runs", undefined, { pipeline: "tasks:\n  t:\n    steps: 3\n" });
    expect(bad).toMatchObject({
      code: "invalid_pipeline",
      details: { errors: [expect.stringMatching(/^\.drover\.yml:\d+:\d+: /)] },
    });
    expect(await refused("post", "/api/v1/runs", undefined, { group: "g" })).toMatchObject({ code: "bad_request" });
    expect(await refused("get", "/api/v1/runs/{id}", "/api/v1/runs/nope")).toMatchObject({ code: "not_found" });
    expect(await refused("get", "/api/v1/agents", undefined, undefined, "wrong")).toMatchObject({ code: "unauthorized" });
    const member = await refused("post", "/api/v1/tokens", undefined, { user: "u", role: "viewer" }, tokens.member);
    expect(member).toMatchObject({ code: "forbidden" });
  });

  test("streams and logs answer with their documented content types", async () => {
    const media = (path: string) => Object.keys(doc.paths[path]!.get!.responses["200"]!.content!);
    const log = await call("get", `/api/v1/runs/${runId}/tasks/t/steps/0/log`, ADMIN_TOKEN);
    expect(log.type).toStartWith(media("/api/v1/runs/{id}/tasks/{task}/steps/{index}/log")[0]!);
    expect(await cluster.log(runId, "t", 0)).toBe("streamed\n");
    const events = await call("get", `/api/v1/runs/${runId}/events`, ADMIN_TOKEN);
    expect(events.type).toStartWith(media("/api/v1/runs/{id}/events")[0]!);
  });
});
