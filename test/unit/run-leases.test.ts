import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, inArray } from "drizzle-orm";
import { RunLeases } from "../../coordinator/cluster/run-leases.ts";
import { openDb } from "../../coordinator/db/open.ts";
import { runs } from "../../coordinator/db/schema.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-run-leases-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (id: string, lease: ReturnType<RunLeases["fresh"]>) => ({
  id,
  group: "g",
  user: "u",
  pipeline: "",
  pipelineFile: ".drover.yml",
  variables: {},
  phase: "running",
  result: "",
  createdAt: 0,
  ...lease,
});

/**
 * A loaded node holds thousands of open runs; its renewal goes a slice of them at a time (letting the event loop
 * through between slices), and must still renew every one, and give up exactly those another node took or that ended.
 */
test("a renewal renews every open run the node holds, across slices, and gives up the runs taken by another node or ended", async () => {
  const db = await openDb({ url: `file:${join(dir, "db")}` });
  const leases = new RunLeases(db, "node-a", 3000);
  const before = Date.now() - 2000;
  const ids = Array.from({ length: 1100 }, (_, i) => `run-${String(i).padStart(5, "0")}`);
  for (let i = 0; i < ids.length; i += 200) await db.insert(runs).values(ids.slice(i, i + 200).map((id) => run(id, leases.fresh(id, 1, before))));
  const taken = [ids[3]!, ids[700]!];
  await db.update(runs).set({ ownerNode: "node-b", ownerEpoch: 2 }).where(inArray(runs.id, taken));
  await db.update(runs).set({ phase: "finished" }).where(eq(runs.id, ids[1000]!));
  expect(ids.every((id) => !leases.owns(id, Date.now() + 1000))).toBe(true);

  const asked = Date.now();
  const lost = await leases.renew();

  expect(lost.toSorted()).toEqual([...taken, ids[1000]!].toSorted());
  const stored = await db.select({ id: runs.id, expires: runs.ownerExpiresAt }).from(runs).where(eq(runs.ownerNode, "node-a"));
  expect(stored.filter((r) => r.expires >= asked + 3000).length).toBe(ids.length - 3);
  expect(ids.filter((id) => !lost.includes(id)).every((id) => leases.owns(id, asked + 2000))).toBe(true);
  expect(lost.some((id) => leases.owns(id, asked))).toBe(false);
  db.$client.close();
});

/**
 * A batch fenced at an old epoch can fail after the node took the run again at a newer one (its lease had lapsed and
 * the beat's claim retook it meanwhile): the refusal must not drop the newer lease, or the node stops driving a run
 * the database says it drives, until that lease too runs out.
 */
test("forgetting a run at the epoch a refused write was fenced by keeps a lease taken again since", async () => {
  const db = await openDb({ url: `file:${join(dir, "db-epochs")}` });
  const leases = new RunLeases(db, "node-a", 3000);
  await db.insert(runs).values(run("r1", leases.fresh("r1", 1, Date.now() - 5000)));
  const old = leases.epoch("r1");
  expect(await leases.claim()).toEqual(["r1"]);
  expect(leases.epoch("r1")).toBe(old + 1);
  leases.forget("r1", old);
  expect(leases.owns("r1")).toBe(true);
  leases.forget("r1", old + 1);
  expect(leases.owns("r1")).toBe(false);
  db.$client.close();
});
