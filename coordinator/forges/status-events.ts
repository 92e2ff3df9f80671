import { and, desc, eq } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { events } from "../db/schema.ts";

/** The event a run gets when its forge would not take a status, or took one after refusing: shown on the run page and in its event stream. */
export const STATUS_EVENT = "forge_status";

/** What a `forge_status` event holds: `error` is null when the forge took `state` after refusing an earlier one. */
export type StatusEventData = {
  state: string;
  context: string | null;
  error: string | null;
};

/** The run's latest `forge_status` event, if any: a refusal still standing when its `error` is set. */
export async function latestStatusEvent(db: Db, runId: string): Promise<StatusEventData | undefined> {
  const [row] = await db
    .select({ data: events.data })
    .from(events)
    .where(and(eq(events.runId, runId), eq(events.kind, STATUS_EVENT)))
    .orderBy(desc(events.seq))
    .limit(1);
  return row?.data as StatusEventData | undefined;
}
