import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { MAX_VARIABLES, writeAll } from "../../coordinator/db/batch.ts";
import { openDb } from "../../coordinator/db/open.ts";
import { insertRows, updateWhere } from "../../coordinator/db/plain-statements.ts";
import { agents, events, objects } from "../../coordinator/db/schema.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-plain-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const agent = (id: string) => ({
  id,
  name: id,
  host: "h",
  archs: ["amd64"],
  group: "default",
  labels: { os: "linux" },
  capacity: 2,
  resources: { cpu: 2, memoryBytes: 1024 },
  dynamic: true,
  limits: null,
  version: "1",
  state: "online",
  credentialHash: "x",
  leaseExpiresAt: 5,
  lastHeartbeatAt: 4,
  createdAt: 3,
});

test("rows inserted and updated as plain statements read back as drizzle's own: json, booleans, defaults, nulls", async () => {
  const db = await openDb({ url: `file:${join(dir, "same")}` });
  await db.insert(agents).values(agent("by-drizzle"));
  await writeAll(db, insertRows(agents, [agent("plain")]));
  const read = async (id: string) => {
    const [row] = await db.select().from(agents).where(eq(agents.id, id));
    return { ...row, id: undefined, name: undefined };
  };
  expect(await read("plain")).toEqual(await read("by-drizzle"));
  expect((await read("plain")).workDir).toBe("");
  expect((await read("plain")).paused).toBe(false);

  const patch = { paused: true, labels: { os: "bsd" }, nodeId: null, version: undefined };
  await db.update(agents).set(patch).where(eq(agents.id, "by-drizzle"));
  await writeAll(db, [updateWhere(agents, patch, { id: "plain", group: "default" })]);
  await writeAll(db, [updateWhere(agents, { paused: false }, { id: "plain", group: "elsewhere" })]);
  expect(await read("plain")).toEqual(await read("by-drizzle"));
  expect((await read("plain")).paused).toBe(true);
  db.$client.close();
});

test("an insert past SQLite's bound-parameter limit is split; a conflict clause applies to each; an SQL default is refused", async () => {
  const db = await openDb({ url: `file:${join(dir, "split")}` });
  const rows = Array.from({ length: 8_000 }, (_, i) => ({ key: `k${i}`, kind: "log", size: i, sha256: "", createdAt: i }));
  const inserts = insertRows(objects, rows);
  expect(rows.length * 5).toBeGreaterThan(MAX_VARIABLES);
  expect(inserts.length).toBe(2);
  await writeAll(db, inserts);
  const again = rows.map((r) => ({ ...r, size: r.size + 1 }));
  await writeAll(db, insertRows(objects, again, `ON CONFLICT ("key") DO UPDATE SET "size" = excluded."size"`));
  const stored = await db.select().from(objects);
  expect(stored.length).toBe(8_000);
  expect(stored.every((o) => o.size === o.createdAt + 1)).toBe(true);
  // events' `at` defaults to SQL, which a plain insert cannot send as an argument
  expect(() => insertRows(events, [{ runId: "r", kind: "k", data: {} }])).toThrow(/needs a value for at/);
  db.$client.close();
});
