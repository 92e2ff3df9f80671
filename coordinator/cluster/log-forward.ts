import { and, eq } from "drizzle-orm";
import { steps } from "../db/schema.ts";
import type { LogKey } from "../logs/live-logs.ts";
import type { Services } from "../services.ts";
import { listNodes } from "./nodes.ts";

/** Marks a request one node passed to another, so that it is answered there or refused, never passed on again. */
export const FORWARDED_HEADER = "x-drover-forwarded-by";

/** How long a node waits for another node's first answer about a log before it tries the next. */
const ASK_TIMEOUT_MS = 2000;

/**
 * A step's log that is being written on another node (the one its agent is connected to): that node's answer,
 * streamed through, or null when no other node has it live. `key` is the live stream (the log, or its
 * timestamps), `step` the step's index. Logs move to the shared object store when their step ends, so
 * only a running step's log is asked for elsewhere.
 */
export async function logFromOtherNode(
  services: Services,
  key: LogKey,
  step: number,
  request: Request,
): Promise<Response | null> {
  if (request.headers.has(FORWARDED_HEADER) || services.logs.live(key)) return null;
  const [row] = await services.db
    .select({ logObject: steps.logObject })
    .from(steps)
    .where(and(eq(steps.attemptId, key.attempt), eq(steps.index, step)));
  if (!row || row.logObject) return null;
  const now = Date.now();
  const others = (await listNodes(services.db)).filter(
    (n) => n.id !== services.cluster.id && n.lastSeenAt > now - 3 * services.cluster.beatMs,
  );
  const url = new URL(request.url);
  const headers = new Headers({ [FORWARDED_HEADER]: services.cluster.id });
  const authorization = request.headers.get("authorization");
  if (authorization) headers.set("authorization", authorization);
  for (const node of others) {
    // the limit is on the answer's start only: a followed log streams for as long as its step runs
    const asking = new AbortController();
    const timer = setTimeout(() => asking.abort(), ASK_TIMEOUT_MS);
    try {
      const res = await fetch(`${node.url}${url.pathname}${url.search}`, { headers, signal: asking.signal });
      if (res.status === 200 && res.body) {
        return new Response(res.body, {
          status: 200,
          headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
        });
      }
      await res.body?.cancel();
    } catch {
      // that node is gone or slow: the next one may hold the log
    } finally {
      clearTimeout(timer);
    }
  }
  return null;
}
