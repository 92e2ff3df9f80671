import { and, asc, eq } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { groupValues } from "../db/schema.ts";
import type { SecretCipher } from "./cipher.ts";

export interface ResolvedValues {
  env: Record<string, string>;
  /** the variables without the secrets: what a pull request from a fork gets */
  plain: Record<string, string>;
  /** values the agent must redact from output */
  secrets: string[];
}

/** A run group's variables and secrets: secrets are stored encrypted and only ever leave in an assignment. */
export class GroupValues {
  /**
   * resolved per group, so dispatch does not read and decrypt on every assignment; the read itself is kept, so the
   * assignments of one dispatch pass, sent together, share the first one's
   */
  private readonly cache = new Map<string, Promise<ResolvedValues>>();

  constructor(
    private readonly db: Db,
    private readonly cipher: SecretCipher,
  ) {}

  async set(group: string, name: string, value: string, secret: boolean): Promise<void> {
    const row = { group, name, secret, value: secret ? this.cipher.encrypt(value) : value, updatedAt: Date.now() };
    await this.db
      .insert(groupValues)
      .values(row)
      .onConflictDoUpdate({ target: [groupValues.group, groupValues.name], set: row });
    this.cache.delete(group);
  }

  async remove(group: string, name: string): Promise<boolean> {
    const gone = await this.db
      .delete(groupValues)
      .where(and(eq(groupValues.group, group), eq(groupValues.name, name)))
      .returning({ name: groupValues.name });
    this.cache.delete(group);
    return gone.length > 0;
  }

  /** For listings: secrets show their name only. */
  async list(group: string) {
    const rows = await this.db.select().from(groupValues).where(eq(groupValues.group, group)).orderBy(asc(groupValues.name));
    return rows.map((r) => ({ name: r.name, secret: r.secret, value: r.secret ? null : r.value, updatedAt: r.updatedAt }));
  }

  resolve(group: string): Promise<ResolvedValues> {
    let resolved = this.cache.get(group);
    if (!resolved) {
      const reading = this.read(group);
      resolved = reading;
      this.cache.set(group, reading);
      // a failed read is not kept: the next assignment reads again
      reading.catch(() => this.cache.get(group) === reading && this.cache.delete(group));
    }
    return resolved;
  }

  private async read(group: string): Promise<ResolvedValues> {
    const rows = await this.db.select().from(groupValues).where(eq(groupValues.group, group));
    const env: Record<string, string> = {};
    const plain: Record<string, string> = {};
    const secrets: string[] = [];
    for (const r of rows) {
      env[r.name] = r.secret ? this.cipher.decrypt(r.value) : r.value;
      if (r.secret) secrets.push(env[r.name]!);
      else plain[r.name] = r.value;
    }
    return { env, plain, secrets };
  }
}
