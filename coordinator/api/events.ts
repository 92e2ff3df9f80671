import { and, asc, eq, gt, type SQL } from "drizzle-orm";
import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { events, runs } from "../db/schema.ts";
import { notFound } from "./errors.ts";
import { Wake } from "../runs/wake.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";

const BATCH = 500;
const KEEPALIVE_MS = 15_000;

/**
 * Server-sent events, resumable by sequence number: `?after=N` (or the
 * `Last-Event-ID` header a reconnecting EventSource sends) gives exactly the
 * events after N, then new ones as they are appended.
 */
function eventStream(runId: string | null) {
  return (c: Context<AppEnv>) => {
    const { db, runEvents } = c.get("services");
    let after = Number(c.req.header("last-event-id") ?? c.req.query("after") ?? 0) || 0;
    return streamSSE(c, async (stream) => {
      // a comment first, so the client knows at once that the stream is open
      await stream.write(": connected\n\n");
      const wake = new Wake();
      let pending = true;
      const unsubscribe = runEvents.subscribe(runId, () => {
        pending = true;
        wake.signal();
      });
      stream.onAbort(unsubscribe);
      try {
        while (!stream.aborted) {
          if (!pending) {
            await wake.sleep(KEEPALIVE_MS);
            if (!pending) await stream.write(": keepalive\n\n");
            continue;
          }
          pending = false;
          const where: SQL[] = [gt(events.seq, after)];
          if (runId) where.push(eq(events.runId, runId));
          const rows = await db.select().from(events).where(and(...where)).orderBy(asc(events.seq)).limit(BATCH);
          for (const e of rows) {
            await stream.writeSSE({
              id: String(e.seq),
              event: e.kind,
              data: JSON.stringify({ seq: e.seq, run: e.runId, kind: e.kind, at: e.at, ...e.data }),
            });
            after = e.seq;
          }
          if (rows.length === BATCH) pending = true;
        }
      } finally {
        unsubscribe();
      }
    });
  };
}

export const runEventRoutes = new Hono<AppEnv>();
runEventRoutes.get("/:id/events", requireRole("viewer"), async (c) => {
  const [run] = await c.get("services").db.select({ id: runs.id }).from(runs).where(eq(runs.id, c.req.param("id")));
  if (!run) throw notFound(`run ${c.req.param("id")}`);
  return eventStream(run.id)(c);
});

export const globalEventRoutes = new Hono<AppEnv>();
globalEventRoutes.get("/", requireRole("viewer"), eventStream(null));
