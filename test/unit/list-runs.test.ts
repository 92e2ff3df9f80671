import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { openDb } from "../../coordinator/db/open.ts";
import { listQuery, type RunFilters } from "../../coordinator/runs/list-runs.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-list-runs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The run list is polled (by the web UI, by clients waiting for a group's runs): with a filter the API offers,
 * SQLite must walk an index newest first and stop at the limit, not read every matching run and sort them,
 * which grows with the group (10,000 runs of one group were all read for `?group=…&limit=1`).
 */
test("the run list, unfiltered or by group, project or group and phase, reads newest first from an index without sorting", async () => {
  const db = await openDb({ url: `file:${join(dir, "db")}` });
  const filters: RunFilters[] = [{ limit: 50 }, { group: "g", limit: 1 }, { project: "p", limit: 50 }, { group: "g", phase: "success", limit: 1 }];
  for (const f of filters) {
    const { sql: text, params } = listQuery(db, f).toSQL();
    const plan = await db.all<{ detail: string }>(sql.raw(`EXPLAIN QUERY PLAN ${text.replace(/\?/g, () => JSON.stringify(params.shift()).replace(/"/g, "'"))}`));
    const steps = plan.map((row) => row.detail);
    expect({ f, steps }).toEqual({ f, steps: expect.not.arrayContaining([expect.stringContaining("TEMP B-TREE")]) });
  }
  db.$client.close();
});
