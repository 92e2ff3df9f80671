import { and, eq, inArray, lt, notExists } from "drizzle-orm";
import { type Write, writeTogether } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { insertRows } from "../db/plain-statements.ts";
import { objectOwners, objects } from "../db/schema.ts";
import type { ObjectStore, PutResult } from "../store/object-store.ts";

export type ObjectKind = "log" | "workspace" | "cache" | "artifact" | "upload";

/** an object recorded again (a log stored again after a reconnect) takes the size and digest of the new bytes */
const SIZE_AND_DIGEST = [objects.size, objects.sha256].map((c) => `"${c.name}" = excluded."${c.name}"`).join(", ");

export const runOwner = (runId: string) => `run:${runId}`;
export const cacheOwner = (group: string, key: string) => `cache:${group}\0${key}`;

/**
 * Which objects exist and who owns them. An object is deleted only when
 * nothing owns it any more; restarted runs share objects by adding an owner,
 * never by copying bytes.
 */
export class ObjectRegistry {
  constructor(
    private readonly db: Db,
    private readonly store: ObjectStore,
  ) {}

  /** Records an object and its owner; `alongside` are written in the same batch (the row that references it). */
  async record(key: string, kind: ObjectKind, stored: PutResult, owner: string | null, alongside: Write[] = []): Promise<void> {
    // plain statements: this runs for every step's log (see plain-statements.ts)
    const row = { key, kind, size: stored.size, sha256: stored.sha256, createdAt: Date.now() };
    const writes = insertRows(objects, [row], `ON CONFLICT ("${objects.key.name}") DO UPDATE SET ${SIZE_AND_DIGEST}`);
    if (owner) writes.push(...insertRows(objectOwners, [{ key, owner }], "ON CONFLICT DO NOTHING"));
    // objects are recorded as steps end on many agents at once, outside `serial`: they share commits
    await writeTogether(this.db, [...writes, ...alongside]);
  }

  /**
   * A row for an object someone else is about to write (an agent, by a presigned URL), unless there is
   * one already: should it never be recorded with an owner, the unowned collector deletes what was written.
   */
  async reserve(key: string, kind: ObjectKind): Promise<void> {
    await this.db.insert(objects).values({ key, kind, size: 0, sha256: "", createdAt: Date.now() }).onConflictDoNothing();
  }

  async addOwner(keys: string[], owner: string): Promise<void> {
    const present = keys.length ? await this.db.select({ key: objects.key }).from(objects).where(inArray(objects.key, keys)) : [];
    if (present.length === 0) return;
    await this.db
      .insert(objectOwners)
      .values(present.map(({ key }) => ({ key, owner })))
      .onConflictDoNothing();
  }

  async owned(owner: string): Promise<string[]> {
    const rows = await this.db.select({ key: objectOwners.key }).from(objectOwners).where(eq(objectOwners.owner, owner));
    return rows.map((r) => r.key);
  }

  async dropOwner(owner: string, keys?: string[]): Promise<void> {
    const where = keys ? and(eq(objectOwners.owner, owner), inArray(objectOwners.key, keys)) : eq(objectOwners.owner, owner);
    await this.db.delete(objectOwners).where(where);
  }

  /** The keys whose bytes the store no longer has (lost outside Drover: a wiped disk or bucket). */
  async missing(keys: string[]): Promise<string[]> {
    const found = await Promise.all(keys.map(async (key) => ((await this.store.stat(key)) ? null : key)));
    return found.filter((key): key is string => key !== null);
  }

  /**
   * Deletes objects nobody owns that are older than `olderThan`: bytes first, then
   * the row, so a crash in between leaves a row to retry, never a dangling reference.
   */
  async deleteUnowned({ olderThan, keys }: { olderThan: number; keys?: string[] }): Promise<number> {
    const orphans = await this.db
      .select({ key: objects.key })
      .from(objects)
      .where(
        and(
          lt(objects.createdAt, olderThan),
          keys ? inArray(objects.key, keys) : undefined,
          notExists(this.db.select().from(objectOwners).where(eq(objectOwners.key, objects.key))),
        ),
      )
      .limit(1000);
    for (const { key } of orphans) {
      await this.store.delete(key);
      await this.db.delete(objects).where(eq(objects.key, key));
    }
    return orphans.length;
  }
}
