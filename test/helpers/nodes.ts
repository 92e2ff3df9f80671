import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { ADMIN_TOKEN, type Cluster, type Coordinator, END_PHASES, type RunView, startCluster } from "./cluster.ts";
import { type NatsServer, startNatsServer } from "./nats-server.ts";
import { waitFor } from "./processes.ts";
import { type S3rverHandle, startS3rver } from "./s3rver.ts";
import { afterAll, beforeAll } from "bun:test";

export interface ClusterView {
  self: string;
  nodes: { id: string; url: string; agents: number; draining: boolean; alive: boolean; lastSeenAt: number }[];
  duties: { name: string; holder: string | null; epoch: number; expiresAt: number }[];
}

/** What every node of a cluster shares: one libSQL file (WAL), one object store, one secret key. */
const sharedEnv = (cluster: Cluster, env: Record<string, string>) => ({
  DROVER_DB_URL: `file:${join(cluster.dir, "cluster.db")}`,
  DROVER_STORAGE: `posix:${join(cluster.dir, "objects")}`,
  DROVER_SECRET_KEY: randomBytes(32).toString("base64"),
  ...env,
});

/** `n` coordinators on one libSQL file (WAL), each with its own data dir, started one after another. */
export async function startNodes(cluster: Cluster, n: number, env: Record<string, string> = {}): Promise<Coordinator[]> {
  const shared = sharedEnv(cluster, env);
  const nodes: Coordinator[] = [];
  // one at a time: the first applies the migrations
  for (let i = 0; i < n; i++)
    nodes.push(await cluster.startCoordinator({ ...shared, DROVER_DATA: join(cluster.dir, `node${i}`) }));
  return nodes;
}

export async function clusterView(node: Coordinator): Promise<ClusterView> {
  const res = await fetch(`${node.url}/api/v1/cluster`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (res.status !== 200) throw new Error(`GET /api/v1/cluster on ${node.url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as ClusterView;
}

/** The `DROVER_SCHEDULE_TICK` of every run of `group`, read straight from the cluster's shared database. */
export async function ticksOf(cluster: Cluster, group: string): Promise<string[]> {
  const db = createClient({ url: `file:${join(cluster.dir, "cluster.db")}` });
  const rows = await db.execute(`SELECT json_extract(variables, '$.DROVER_SCHEDULE_TICK') AS tick FROM runs WHERE "group" = ?`, [
    group,
  ]);
  db.close();
  return rows.rows.map((r) => String(r.tick));
}

/** The nodes an agent registered with, in order, from its log. */
export const registrations = (output: string) => [...output.matchAll(/registered as \S+ \(\S+\) with (\S+)/g)].map((m) => m[1]!);

/** Three (or `n`) coordinators on one libSQL file and a nats-server of their own, which they use as their bus. */
export interface NatsCluster {
  cluster: Cluster;
  nats: NatsServer;
  nodes: Coordinator[];
  /** Starts one more node of the cluster (a test that kills nodes kills its own). */
  addNode(): Promise<Coordinator>;
  stop(): Promise<void>;
}

export async function startNatsCluster(n = 3, env: Record<string, string> = {}): Promise<NatsCluster> {
  const nats = await startNatsServer();
  const cluster = await startCluster();
  const stop = async () => {
    await cluster.stop();
    await nats.stop();
  };
  const shared = sharedEnv(cluster, { DROVER_NATS_URL: nats.url, ...env });
  let count = n;
  try {
    return {
      cluster,
      nats,
      nodes: await startNodes(cluster, n, shared),
      addNode: () => cluster.startCoordinator({ ...shared, DROVER_DATA: join(cluster.dir, `node${count++}`) }),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** `n` coordinators on one libSQL file storing into s3rver's bucket (at `spec`, s3rver's own by default). */
export const startS3Nodes = (cluster: Cluster, s3: S3rverHandle, n: number, spec = s3.spec) =>
  startNodes(cluster, n, { DROVER_STORAGE: spec, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" });

/** Two coordinators on one libSQL file and one s3rver bucket, started before a file's tests and stopped after them. */
export function s3NodesPerFile(bucket: string, specOf = (s3: S3rverHandle) => s3.spec) {
  const made = {} as { s3: S3rverHandle; cluster: Cluster; nodes: Coordinator[]; spec: string };
  beforeAll(async () => {
    made.s3 = await startS3rver(bucket);
    made.spec = specOf(made.s3);
    made.cluster = await startCluster();
    made.nodes = await startS3Nodes(made.cluster, made.s3, 2, made.spec);
  }, 90_000);
  afterAll(async () => {
    await made.cluster?.stop();
    await made.s3?.stop();
  });
  return made;
}

/** An agent given every node, the node it registered with, and another node. */
export async function agentOnNodes(cluster: Cluster, nodes: Coordinator[], name: string) {
  const agent = await cluster.startAgent(name, [], nodes.map((n) => n.url).join(","));
  const held = nodes.find((n) => n.url === registrations(agent.output()).at(-1))!;
  return { agent, held, other: nodes.find((n) => n !== held)! };
}

/** An admin's API request to one node; its JSON answer. */
export async function nodeApi<T>(node: Coordinator, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as T;
}

/** A run as `node` shows it once it ended. */
export const waitRunOn = (node: Coordinator, id: string, timeoutMs: number) =>
  waitFor(
    `run ${id} to end`,
    async () => {
      const view = await nodeApi<RunView>(node, "GET", `/api/v1/runs/${id}`);
      return END_PHASES.includes(view.phase) ? view : undefined;
    },
    timeoutMs,
    100,
  );

/** A step's log as `node` serves it. */
export const nodeLog = async (node: Coordinator, run: string, task: string, step: number) =>
  (await fetch(`${node.url}/api/v1/runs/${run}/tasks/${task}/steps/${step}/log`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
