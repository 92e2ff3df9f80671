import { randomBytes } from "node:crypto";
import { and, eq, lt, ne } from "drizzle-orm";
import { newId } from "../../shared/ids.ts";
import type { Hello } from "../../shared/protocol/index.ts";
import type { Db } from "../db/open.ts";
import { agents } from "../db/schema.ts";
import { sameSecret, tokenHash } from "../secrets/digests.ts";
import type { AgentRow } from "./fleet.ts";

const credentialMatches = (credential: string, row: AgentRow) => sameSecret(tokenHash(credential), row.credentialHash);

export type Registration = { ok: true; row: AgentRow; credential?: string } | { ok: false; message: string };

/**
 * A returning agent proves its id with the credential issued at its first
 * registration, so one agent can never take over another's record and attempts.
 */
export async function register(db: Db, hello: Hello, leaseTtlMs: number, node: string): Promise<Registration> {
  const now = Date.now();
  const fields = {
    name: hello.name,
    host: hello.host,
    workDir: hello.workDir,
    archs: hello.archs,
    group: hello.group,
    labels: hello.labels,
    capacity: hello.capacity,
    resources: hello.resources,
    dynamic: hello.dynamic,
    executor: hello.executor,
    limits: hello.limits,
    version: hello.version,
    state: "online",
    leaseExpiresAt: now + leaseTtlMs,
    lastHeartbeatAt: now,
    nodeId: node,
  };
  if (hello.id) {
    const [existing] = await db.select().from(agents).where(eq(agents.id, hello.id));
    if (existing) {
      if (!credentialMatches(hello.credential ?? "", existing)) {
        return { ok: false, message: `wrong credential for agent ${hello.id}` };
      }
      const [row] = await db.update(agents).set(fields).where(eq(agents.id, hello.id)).returning();
      return { ok: true, row: row! };
    }
  }
  const credential = randomBytes(24).toString("base64url");
  const [row] = await db
    .insert(agents)
    .values({ id: newId(), credentialHash: tokenHash(credential), createdAt: now, ...fields })
    .returning();
  return { ok: true, row: row!, credential };
}

export async function agentByCredential(db: Db, id: string, credential: string): Promise<AgentRow | undefined> {
  const [row] = await db.select().from(agents).where(eq(agents.id, id));
  if (!row) return undefined;
  return credentialMatches(credential, row) ? row : undefined;
}

/** Agents not offline whose lease ran out in the database: retired by their node, or by another if it died. */
export function lapsedAgents(db: Db, now: number): Promise<AgentRow[]> {
  return db
    .select()
    .from(agents)
    .where(and(ne(agents.state, "offline"), lt(agents.leaseExpiresAt, now)));
}
