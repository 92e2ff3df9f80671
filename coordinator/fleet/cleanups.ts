import type { BatchItem } from "drizzle-orm/batch";
import { and, eq, isNull } from "drizzle-orm";
import { newId } from "../../shared/ids.ts";
import type { CleanupDone } from "../../shared/protocol/index.ts";
import { writeAll } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { agentCleanups, agents } from "../db/schema.ts";
import type { Fleet, OnlineAgent } from "./fleet.ts";

const log = (msg: string) => console.error(`[fleet] ${msg}`);

/**
 * A dynamic agent is not kept once its lease lapses: its record goes, and what
 * it left on shared ground (orphaned process groups, workspaces under a shared
 * work root) is handed to a live sibling in its group. The request is stored, so
 * it waits for a sibling to join, and survives a coordinator restart.
 */
export class Cleanups {
  constructor(
    private readonly db: Db,
    private readonly fleet: Fleet,
  ) {}

  /** The record goes as soon as the lease lapses; the cleanup (`retire`) waits until its attempts are fenced. */
  async forget(agent: OnlineAgent): Promise<void> {
    await this.db.delete(agents).where(eq(agents.id, agent.row.id));
    this.fleet.known.delete(agent.row.id);
  }

  async retire(agent: OnlineAgent, attempts: string[]): Promise<void> {
    const row = agent.row;
    const writes: BatchItem<"sqlite">[] = [];
    writes.push(
      this.db.insert(agentCleanups).values({
        id: newId(),
        agentId: row.id,
        agentName: row.name,
        group: row.group,
        host: row.host,
        workDir: row.workDir,
        attempts,
        createdAt: Date.now(),
      }),
    );
    writes.push(this.db.delete(agents).where(eq(agents.id, row.id)));
    await writeAll(this.db, writes);
    this.fleet.known.delete(row.id);
    log(`dynamic agent ${row.name} (${row.id}) removed; cleanup of ${attempts.length} attempt(s) handed to its group`);
    await this.dispatch();
  }

  /** Sends each open cleanup to a live sibling in the same group (one not already asked), if there is one. */
  async dispatch(): Promise<void> {
    const open = await this.db.select().from(agentCleanups).where(isNull(agentCleanups.doneAt));
    for (const cleanup of open) {
      const asked = cleanup.sentTo ? this.fleet.agents.get(cleanup.sentTo) : undefined;
      if (asked?.socket) continue;
      const sibling = [...this.fleet.agents.values()]
        .filter((a) => a.socket && a.row.group === cleanup.group && a.row.id !== cleanup.agentId)
        .sort((a, b) => (a.row.id < b.row.id ? -1 : 1))[0];
      if (!sibling) continue;
      await this.db.update(agentCleanups).set({ sentTo: sibling.row.id }).where(eq(agentCleanups.id, cleanup.id));
      sibling.socket!.send({
        type: "cleanup",
        cleanup: cleanup.id,
        agent: cleanup.agentId,
        name: cleanup.agentName,
        host: cleanup.host,
        workDir: cleanup.workDir,
        attempts: cleanup.attempts,
      });
    }
  }

  async done(agent: OnlineAgent, report: CleanupDone): Promise<void> {
    const { type: _type, id: _id, cleanup, ...found } = report;
    const updated = await this.db
      .update(agentCleanups)
      .set({ doneAt: Date.now(), report: { by: agent.row.id, ...found } })
      .where(and(eq(agentCleanups.id, cleanup), eq(agentCleanups.sentTo, agent.row.id), isNull(agentCleanups.doneAt)))
      .returning({ agentName: agentCleanups.agentName });
    if (updated[0]) {
      log(
        `${agent.row.name} cleaned up after ${updated[0].agentName}: ${found.killedProcesses} process(es), ${found.removedPaths.length} path(s)`,
      );
    }
  }
}
