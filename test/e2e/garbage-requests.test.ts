import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROTOCOL_HEADER } from "../../shared/protocol/archive-api.ts";
import { PROTOCOL_VERSION } from "../../shared/protocol/version.ts";
import { ADMIN_TOKEN, type Cluster, startCluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";

// Every route, given path parameters, query strings and bodies no client would send, answers with a refusal (4xx)
// or what it has, never a server error: a NUL or an overlong name once reached a file system call (GET /download).

/** Path parameters: nothing, numbers out of range, NUL, dot-dot, 5,000 characters, an emoji, bad percent-encoding. */
const PARAMS = ["x", "0", "-1", "99999999999999999999", "%00", "%2e%2e", "a".repeat(5000), "%F0%9F%92%A9", "1e400", "NaN", "%ZZ"];
const QUERIES = [
  "",
  "?limit=-1",
  "?limit=abc",
  "?limit=1e999",
  "?limit=",
  "?offset=-5",
  "?offset=999999999999999999999",
  "?cursor=%00%FF",
  "?follow=maybe",
  "?state=nope&phase=x&result=y",
  `?q=${"a".repeat(10000)}`,
];
const BODIES = [
  undefined,
  "",
  "{",
  "null",
  "[]",
  "1",
  '"s"',
  `${'{"a":'.repeat(2000)}1${"}".repeat(2000)}`,
  JSON.stringify({ pipeline: 5 }),
  JSON.stringify({ name: null, role: [], user: {}, url: 7 }),
  "\u0000\u0001",
];
/** The agents' own routes under /agent/v1 (A: an attempt, P: a parameter), which the OpenAPI document leaves out. */
const AGENT_ROUTES: [string, string][] = [
  ["GET", "/attempts/A/caches"],
  ["GET", "/attempts/A/caches/P"],
  ["GET", "/attempts/A/objects/P"],
  ["GET", "/attempts/A/workspace"],
  ["GET", "/attempts/A/workspaces"],
  ["GET", "/prefetches/P"],
  ["POST", "/attempts/A/uploads"],
  ["POST", "/attempts/A/uploads/abort"],
  ["POST", "/attempts/A/uploads/complete"],
  ["POST", "/attempts/A/uploads/multipart"],
  ["POST", "/attempts/A/uploads/url"],
  ["PUT", "/attempts/A/artifacts/P"],
  ["PUT", "/attempts/A/caches/P"],
  ["PUT", "/attempts/A/logs/P"],
  ["PUT", "/attempts/A/steps/P/workspace"],
  ["PUT", "/attempts/A/test-reports/P/P"],
];
const AGENT_BODIES = [
  "",
  "garbage",
  "\u0000\u0001",
  "{",
  "[]",
  JSON.stringify({ kind: "artifact", path: "../x" }),
  JSON.stringify({ kind: 5, path: null, size: -1, parts: "x", uploadId: {}, object: "../../etc" }),
  JSON.stringify({ kind: "workspace", size: 1e30 }),
];
const WEB_PAGES = [
  "/",
  "/runs/P",
  "/runs/P/tasks/P/steps/P",
  "/runs/P/tasks/P/steps/P/log.txt",
  "/runs/P/log.txt",
  "/runs/P/artifacts/P/P",
  "/projects",
  "/projects/P",
  "/projects/P/deliveries",
  "/agents",
  "/ui/P",
  "/login",
];

let cluster: Cluster;
let finishedRun: string;

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startAgent("garbage");
  finishedRun = await cluster.submit("tasks:\n  t:\n    steps: [ { run: echo streamed } ]\n", "garbage");
  await cluster.waitRun(finishedRun);
});
afterAll(() => cluster?.stop());

interface Garbage {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** Sends each request; the status of each (0: no answer), and those answered with a server error (or not at all). */
async function send(requests: Garbage[]): Promise<{ statuses: number[]; serverErrors: string[] }> {
  const statuses: number[] = [];
  const serverErrors: string[] = [];
  for (const { method, path, headers, body } of requests) {
    const shown = `${method} ${path.slice(0, 100)}${body === undefined ? "" : ` with ${JSON.stringify(body.slice(0, 40))}`}`;
    try {
      const res = await fetch(`${cluster.coordinator.url}${path}`, {
        method,
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(5_000),
      });
      statuses.push(res.status);
      if (res.status >= 500) serverErrors.push(`${shown}: ${res.status} ${(await res.text()).slice(0, 200)}`);
      else await res.body?.cancel();
    } catch (e) {
      statuses.push(0);
      serverErrors.push(`${shown}: no answer (${(e as Error).message})`);
    }
  }
  return { statuses, serverErrors };
}

describe("requests no client would send", () => {
  test("every route of the OpenAPI document refuses garbage parameters, queries and bodies without a server error", async () => {
    const doc = (await (await fetch(`${cluster.coordinator.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, object>;
    };
    const requests = Object.entries(doc.paths).flatMap(([template, ops]) =>
      Object.keys(ops).flatMap((method) =>
        PARAMS.flatMap((param) => {
          // a run that exists for `id`, so that what lies behind it is reached too
          const path = template.replace(/\{(\w+)\}/g, (_m, name) => (param === "x" && name === "id" ? finishedRun : param));
          const reads = method === "get" || method === "delete";
          return (method === "get" ? QUERIES : [""]).flatMap((query) =>
            (reads ? [undefined] : BODIES).map((body) => ({
              method: method.toUpperCase(),
              path: path + query,
              headers: {
                authorization: `Bearer ${ADMIN_TOKEN}`,
                ...(body === undefined ? {} : { "content-type": "application/json" }),
              },
              body,
            })),
          );
        }),
      ),
    );
    expect(requests.length).toBeGreaterThan(5_000);
    expect((await send(requests)).serverErrors).toEqual([]);
  }, 120_000);

  test("the web pages answer garbage parameters and queries without a server error", async () => {
    const requests = WEB_PAGES.flatMap((page) =>
      PARAMS.flatMap((param) =>
        QUERIES.map((query) => ({
          method: "GET",
          path: page.replaceAll("P", param) + query,
          headers: { cookie: `drover_token=${ADMIN_TOKEN}` },
        })),
      ),
    );
    expect((await send(requests)).serverErrors).toEqual([]);
  }, 120_000);

  test("the agents' routes, asked by an agent about an attempt it runs and one it does not, answer garbage without a server error", async () => {
    const identity = JSON.parse(readFileSync(join(cluster.dir, "agent-garbage", "agent-garbage", "identity.json"), "utf8")) as {
      id: string;
      credential: string;
    };
    const held = await cluster.submit("tasks:\n  hold:\n    steps: [ { run: sleep 60 } ]\n", "garbage");
    const running = await waitFor("the attempt to run", async () => {
      const run = (await cluster.api<{ tasks: { attempts: { id: string; state: string }[] }[] }>("GET", `/api/v1/runs/${held}`))
        .body;
      return run.tasks[0]?.attempts.find((a) => a.state === "running")?.id;
    });
    const headers = (contentType: string) => ({
      authorization: `Bearer ${identity.credential}`,
      "x-drover-agent": identity.id,
      [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
      "content-type": contentType,
    });
    // first, while the attempt surely runs (garbage from its own agent may end it): artifacts named what no store keeps
    const named = await send(
      ["x", "%00", "a".repeat(5000)].map((name) => ({
        method: "PUT",
        path: `/agent/v1/attempts/${running}/artifacts/${name}`,
        headers: headers("application/octet-stream"),
        body: "bytes",
      })),
    );
    expect(named).toEqual({ statuses: [201, 400, 400], serverErrors: [] });
    const requests = AGENT_ROUTES.flatMap(([method, route]) =>
      [running, "x"].flatMap((attempt) =>
        PARAMS.flatMap((param) =>
          (method === "GET" ? [undefined] : AGENT_BODIES).map((body) => ({
            method,
            path: `/agent/v1${route.replace("A", attempt).replaceAll("P", param)}`,
            headers: headers(method === "POST" ? "application/json" : "application/octet-stream"),
            body,
          })),
        ),
      ),
    );
    expect((await send(requests)).serverErrors).toEqual([]);
  }, 120_000);
});
