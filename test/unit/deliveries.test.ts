import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listDeliveries, recordDelivery } from "../../coordinator/forges/deliveries.ts";
import { openDb } from "../../coordinator/db/open.ts";
import { projects } from "../../coordinator/db/schema.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-deliveries-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a project keeps its newest 1,000 deliveries; another project's are untouched; a claimed id is refused twice", async () => {
  const db = await openDb({ url: `file:${join(dir, "db")}` });
  const project = (id: string) => ({
    id,
    name: id,
    repoUrl: "https://example.invalid/r.git",
    forge: "github",
    defaultBranch: "main",
    pipelinePath: ".drover.yml",
    forkApproval: false,
    hookSecret: "x",
    user: "t",
    createdAt: 0,
  });
  await db.insert(projects).values([project("p1"), project("p2")]);
  await recordDelivery(db, { projectId: "p2", project: "p2", outcome: "refused", status: 401, receivedAt: 1 });
  for (let i = 1; i <= 1005; i++) await recordDelivery(db, { projectId: "p1", project: "p1", outcome: "refused", status: 401, receivedAt: 1000 + i, deliveryId: `d${i}` });
  const kept = await listDeliveries(db, "p1", 2000);
  expect(kept).toHaveLength(1000);
  expect(kept.at(0)?.deliveryId).toBe("d1005");
  expect(kept.at(-1)?.deliveryId).toBe("d6");
  expect(await listDeliveries(db, "p2", 10)).toHaveLength(1);

  const claimed = await recordDelivery(db, { projectId: "p2", project: "p2", outcome: "pending", status: 202, claim: "x-1" });
  expect(claimed?.claim).toBe("x-1");
  expect(await recordDelivery(db, { projectId: "p2", project: "p2", outcome: "pending", status: 202, claim: "x-1" })).toBeUndefined();
  db.$client.close();
});
