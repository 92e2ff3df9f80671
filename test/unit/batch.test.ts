import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import { chunkedInserts, MAX_VARIABLES, writeAll, writeTogether } from "../../coordinator/db/batch.ts";
import { openDb } from "../../coordinator/db/open.ts";
import { events } from "../../coordinator/db/schema.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-batch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a batch of rows past SQLite's bound-parameter limit is written whole, in inserts each under it", async () => {
  const db = await openDb({ url: `file:${join(dir, "db")}` });
  const rows = Array.from({ length: 8_500 }, (_, i) => ({ runId: "r", kind: "k", data: { i }, at: i }));
  const inserts = chunkedInserts(db, events, rows);
  // 8,500 rows of 4 columns is 34,000 parameters: one insert would be refused
  expect(rows.length * 4).toBeGreaterThan(MAX_VARIABLES);
  expect(inserts.length).toBeGreaterThan(1);
  await writeAll(db, inserts);
  const [counted] = await db.select({ n: sql<number>`count(*)` }).from(events).where(eq(events.runId, "r"));
  expect(counted?.n).toBe(8_500);
  const single = async () => {
    await db.insert(events).values(rows);
  };
  const error = (await single().catch((e: Error) => e)) as Error | undefined;
  expect(String(error?.cause ?? error).slice(0, 200)).toMatch(/too many SQL variables/);
  db.$client.close();
});

test("batches asked for in one turn are written together, each answered with its own results, and one refused refuses none of the others", async () => {
  const db = await openDb({ url: `file:${join(dir, "together")}` });
  const row = (runId: string, at: number) => db.insert(events).values({ runId, kind: "k", data: {}, at }).returning({ at: events.at });
  // the second batch's last insert breaks a NOT NULL: its first must not stay behind
  const broken = db.run(sql`INSERT INTO ${events} (run_id, kind, data, at) VALUES ('b', 'k', '{}', NULL)`);
  const outcomes = await Promise.allSettled([
    writeTogether(db, [row("a", 1), row("a", 2)]),
    writeTogether(db, [row("b", 3), broken]),
    writeTogether(db, [row("c", 4)]),
  ]);
  expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  expect((outcomes[0] as PromiseFulfilledResult<unknown>).value).toEqual([[{ at: 1 }], [{ at: 2 }]]);
  expect((outcomes[2] as PromiseFulfilledResult<unknown>).value).toEqual([[{ at: 4 }]]);
  const stored = await db.select({ runId: events.runId, at: events.at }).from(events).orderBy(events.at);
  expect(stored).toEqual([
    { runId: "a", at: 1 },
    { runId: "a", at: 2 },
    { runId: "c", at: 4 },
  ]);
  db.$client.close();
});
