import { eq } from "drizzle-orm";
import { agents, attempts } from "../db/schema.ts";
import type { Elsewhere } from "../runs/log-follow.ts";
import type { Services } from "../services.ts";

/** Marks a request one node passed to another, so that it is answered there or refused, never passed on again. */
export const FORWARDED_HEADER = "x-drover-forwarded-by";

/** How long a node waits for another node's first answer about a log before it tries the next. */
const ASK_TIMEOUT_MS = 2000;

/** A step's log as the API names it: the same on every node. */
export interface LogAddress {
  run: string;
  /** the attempt's id: the node its agent is connected to is asked first */
  attemptId: string;
  task: string;
  attempt: number;
  step: number;
  timestamps: boolean;
}

/**
 * Where a step's log may be written when it is not written here: the other live nodes, asked in turn (the
 * node the attempt's agent is connected to first) with the caller's own credential (so nobody reads through a node what they could not read on it). Each is asked
 * for the log from a byte offset; the one whose agent writes it answers (the others answer 404), and its
 * answer is passed through. Logs move to the shared object store when their step ends, so only a running
 * step's log is asked for elsewhere.
 */
export function logElsewhere(services: Services, address: LogAddress, credential: string): Elsewhere {
  const { run, task, attempt, step, timestamps } = address;
  const path = `/api/v1/runs/${encodeURIComponent(run)}/tasks/${encodeURIComponent(task)}/steps/${step}/log`;
  const headers = { [FORWARDED_HEADER]: services.cluster.id, authorization: `Bearer ${credential}` };
  return async (offset, follow) => {
    const query = new URLSearchParams({ attempt: String(attempt), offset: String(offset) });
    if (follow) query.set("follow", "1");
    if (timestamps) query.set("timestamps", "1");
    const [row] = await services.db
      .select({ node: agents.nodeId })
      .from(attempts)
      .innerJoin(agents, eq(agents.id, attempts.agentId))
      .where(eq(attempts.id, address.attemptId));
    const others = await services.cluster.others();
    const holder = others.filter((n) => n.id === row?.node);
    for (const node of [...holder, ...others.filter((n) => n.id !== row?.node)]) {
      // the limit is on the answer's start only: a followed log streams for as long as its step runs
      const asking = new AbortController();
      const timer = setTimeout(() => asking.abort(), ASK_TIMEOUT_MS);
      try {
        const res = await fetch(`${node.url}${path}?${query}`, { headers, signal: asking.signal });
        if (res.status === 200 && res.body) return res.body;
        await res.body?.cancel();
      } catch {
        // that node is gone or slow: the next one may hold the log
      } finally {
        clearTimeout(timer);
      }
    }
    return null;
  };
}
