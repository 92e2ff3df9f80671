import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { ADMIN_TOKEN, type Cluster, type Coordinator } from "./cluster.ts";

export interface ClusterView {
  self: string;
  nodes: { id: string; url: string; agents: number; draining: boolean; alive: boolean; lastSeenAt: number }[];
  duties: { name: string; holder: string | null; epoch: number; expiresAt: number }[];
}

/** `n` coordinators on one libSQL file (WAL), each with its own data dir, started one after another. */
export async function startNodes(cluster: Cluster, n: number, env: Record<string, string> = {}): Promise<Coordinator[]> {
  const shared = {
    DROVER_DB_URL: `file:${join(cluster.dir, "cluster.db")}`,
    DROVER_STORAGE: `posix:${join(cluster.dir, "objects")}`,
    DROVER_SECRET_KEY: randomBytes(32).toString("base64"),
    ...env,
  };
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

/** The nodes an agent registered with, in order, from its log. */
export const registrations = (output: string) => [...output.matchAll(/registered as \S+ \(\S+\) with (\S+)/g)].map((m) => m[1]!);
