import { eq } from "drizzle-orm";
import { retry } from "../../shared/retry.ts";
import type { Db } from "../db/open.ts";
import { runGroups } from "../db/schema.ts";
import type { RunRow } from "../runs/active-run.ts";
import { signature } from "../secrets/digests.ts";

/** Posts a signed JSON notice to the run group's webhook when a run ends; retried with backoff, never blocking the run. */
export function notifyRunFinished(db: Db, run: RunRow, baseUrl: string): void {
  void (async () => {
    const [group] = await db.select().from(runGroups).where(eq(runGroups.name, run.group));
    if (!group?.notifyUrl) return;
    const { pipeline: _pipeline, variables: _variables, ...summary } = run;
    const body = JSON.stringify({ event: "run.finished", run: summary, url: `${baseUrl}/runs/${run.id}` });
    const headers = {
      "content-type": "application/json",
      "x-drover-event": "run.finished",
      "x-drover-signature-256": signature(group.notifySecret ?? "", body),
    };
    // a receiver that is down for a minute still gets the notice: 6 tries, doubling from 1 s
    await retry({ tries: 6, baseMs: 1000, maxMs: 30_000 }, async (attempt) => {
      const res = await fetch(group.notifyUrl!, { method: "POST", body, headers: { ...headers, "x-drover-delivery-attempt": String(attempt) } });
      if (!res.ok) throw new Error(`${group.notifyUrl} answered ${res.status}`);
    });
  })().catch((e) => console.error(`[notify] run ${run.id}: giving up: ${(e as Error).message}`));
}
