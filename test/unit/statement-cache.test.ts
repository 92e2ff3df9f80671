import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import Database from "libsql";
import { openDb } from "../../coordinator/db/open.ts";
import { events } from "../../coordinator/db/schema.ts";
import { keptStatementHits } from "../../coordinator/db/statement-cache.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-statements-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a statement run again is the kept one, bound afresh each time, and holds no read transaction open", async () => {
  const url = `file:${join(dir, "db")}`;
  const db = await openDb({ url });
  const other = await openDb({ url });
  await db.insert(events).values([1, 2, 3].map((i) => ({ runId: `r${i}`, kind: "k", data: { i }, at: i })));
  const byRun = (run: string) => db.select({ at: events.at }).from(events).where(eq(events.runId, run));

  const before = keptStatementHits();
  expect(await byRun("r1")).toEqual([{ at: 1 }]);
  expect(await byRun("r2")).toEqual([{ at: 2 }]);
  expect(await byRun("r3")).toEqual([{ at: 3 }]);
  expect(keptStatementHits() - before).toBeGreaterThanOrEqual(2);

  // another connection's commit is seen by the kept statement, and its checkpoint is not held back by it
  await other.insert(events).values({ runId: "r1", kind: "k", data: {}, at: 4 });
  expect(await byRun("r1")).toEqual([{ at: 1 }, { at: 4 }]);
  const { rows } = await other.$client.execute("PRAGMA wal_checkpoint(TRUNCATE)");
  expect(Number(rows[0]?.[0])).toBe(0); // 0: not busy

  // a statement that failed runs again cleanly
  const insertOne = (id: number) =>
    db.run(sql`INSERT INTO ${events} (seq, run_id, kind, data, at) VALUES (${id}, 'r9', 'k', '{}', 9)`);
  await insertOne(1_000);
  expect(String(await insertOne(1_000).catch((e: Error) => e.cause ?? e))).toMatch(/UNIQUE|PRIMARY KEY|constraint/i);
  await insertOne(1_001);
  expect((await byRun("r9")).length).toBe(2);
  db.$client.close();
  other.$client.close();
});

test("a kept statement's columns follow a schema change made on its connection", async () => {
  const db = await openDb({ url: `file:${join(dir, "schema")}` });
  await db.$client.execute("CREATE TABLE extra (a INTEGER)");
  await db.$client.execute("INSERT INTO extra VALUES (1)");
  expect((await db.$client.execute("SELECT * FROM extra")).columns).toEqual(["a"]);
  expect((await db.$client.execute("SELECT * FROM extra")).columns).toEqual(["a"]);
  await db.$client.execute("ALTER TABLE extra ADD COLUMN b TEXT DEFAULT 'x'");
  const after = await db.$client.execute("SELECT * FROM extra");
  expect(after.columns).toEqual(["a", "b"]);
  expect(after.rows[0]?.b).toBe("x");
  db.$client.close();
});

test("a kept statement asks the raw mode once: one that returns no rows is not made to throw at each run", async () => {
  const db = await openDb({ url: `file:${join(dir, "modes")}` });
  const probe = new Database(":memory:");
  const proto = Object.getPrototypeOf(probe.prepare("SELECT 1")) as { raw(on?: boolean): unknown };
  probe.close();
  const raw = proto.raw;
  let asked = 0;
  proto.raw = function (this: unknown, on?: boolean) {
    asked++;
    return raw.call(this, on);
  };
  try {
    await db.$client.execute("CREATE TABLE modes (id INTEGER PRIMARY KEY, n INTEGER)");
    asked = 0;
    const insert = (id: number) => db.$client.execute({ sql: "INSERT INTO modes (id, n) VALUES (?, 0) RETURNING id", args: [id] });
    const bump = (id: number) => db.$client.execute({ sql: "UPDATE modes SET n = n + 1 WHERE id = ?", args: [id] });
    for (let i = 1; i <= 5; i++) expect((await insert(i)).rows.map((r) => Number(r.id))).toEqual([i]);
    for (let i = 0; i < 5; i++) expect((await bump(3)).rowsAffected).toBe(1);
    expect((await bump(99)).rowsAffected).toBe(0);
    // once for the insert's statement, once for the update's
    expect(asked).toBe(2);
    expect(Number((await db.$client.execute("SELECT n FROM modes WHERE id = 3")).rows[0]?.n)).toBe(5);
  } finally {
    proto.raw = raw;
    db.$client.close();
  }
});
