import { and, eq, isNull } from "drizzle-orm";
import { tokens } from "../db/schema.ts";
import { sameSecret, tokenHash } from "../secrets/digests.ts";
import type { Services } from "../services.ts";

/** Who is calling, and with which role: people (admin, member, viewer) and agents. */
export type UserRole = "admin" | "member" | "viewer";
export type Role = UserRole | "agent";

export interface Principal {
  role: Role;
  user: string;
  /** set when an agent authenticates with its own credential */
  agentId?: string;
}

/** A person's principal for a token: the admin token, or an API token that is not revoked. */
export async function userForToken(services: Services, token: string): Promise<Principal | undefined> {
  if (!token) return undefined;
  if (sameSecret(token, services.adminToken)) return { role: "admin", user: "admin" };
  const [row] = await services.db
    .select()
    .from(tokens)
    .where(and(eq(tokens.hash, tokenHash(token)), isNull(tokens.revokedAt)));
  return row ? { role: row.role as UserRole, user: row.user } : undefined;
}

const RANK: Record<Role, number> = { agent: 0, viewer: 1, member: 2, admin: 3 };

/** Users need at least `min`; agents only get through routes made for them. */
export const hasRole = (role: Role, min: Role) => (min === "agent" ? role === "agent" : role !== "agent" && RANK[role] >= RANK[min]);
