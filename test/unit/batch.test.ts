import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import { chunkedInserts, MAX_VARIABLES, writeAll } from "../../coordinator/db/batch.ts";
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
