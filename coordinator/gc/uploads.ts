import { inArray } from "drizzle-orm";
import { ON_AGENT_STATES } from "../../shared/states.ts";
import { attempts } from "../db/schema.ts";
import { attemptOfArchiveKey } from "../objects/archive-keys.ts";
import type { CollectorContext } from "./collectors.ts";

/** Pending uploads looked at in one pass; the next pass takes the rest. */
const PAGE = 1000;

/**
 * Aborts the multipart uploads agents began straight to the bucket and will never complete: their
 * attempt is over (finished, lost to a killed agent, or deleted with its run), or they began longer
 * ago than the `unowned` retention. Uploads under keys that are not Drover archives are left alone.
 */
export async function abortAbandonedUploads(ctx: CollectorContext): Promise<number> {
  const direct = ctx.store.direct;
  if (!direct) return 0;
  const pending: { key: string; uploadId: string; initiatedAt: number; attempt: string }[] = [];
  for await (const upload of direct.pendingUploads("")) {
    const attempt = attemptOfArchiveKey(upload.key);
    if (attempt) pending.push({ ...upload, attempt });
    if (pending.length === PAGE) break;
  }
  if (pending.length === 0) return 0;
  const ids = [...new Set(pending.map((p) => p.attempt))];
  const rows = await ctx.db.select({ id: attempts.id, state: attempts.state }).from(attempts).where(inArray(attempts.id, ids));
  const live = new Set(rows.filter((r) => ON_AGENT_STATES.has(r.state as never)).map((r) => r.id));
  const oldest = ctx.now - ctx.retention.unowned;
  let aborted = 0;
  for (const upload of pending) {
    if (live.has(upload.attempt) && upload.initiatedAt >= oldest) continue;
    await direct.abortMultipart(upload.key, upload.uploadId);
    aborted++;
  }
  return aborted;
}
