/** @jsxImportSource hono/jsx */
import { inArray } from "drizzle-orm";
import type { Services } from "../services.ts";
import { attempts } from "../db/schema.ts";
import { listAgents } from "../fleet/agent-list.ts";
import { atLeast } from "./auth.ts";
import { ago, isoTime, seg } from "./format.ts";
import { Action, Badge, Layout, type Viewer } from "./layout.tsx";

/** The agent list, with each running attempt named by its run, task and number. */
async function loadAgents({ db, fleet }: Services) {
  const list = await listAgents(db, fleet);
  const ids = list.flatMap((a) => a.running);
  const named = ids.length
    ? await db.select({ id: attempts.id, runId: attempts.runId, task: attempts.taskName, number: attempts.number }).from(attempts).where(inArray(attempts.id, ids))
    : [];
  const byId = new Map(named.map((a) => [a.id, a]));
  return list.map((a) => ({ ...a, running: a.running.flatMap((id) => byId.get(id) ?? []) }));
}

export async function AgentsPage({ services, viewer }: { services: Services; viewer: Viewer }) {
  const list = await loadAgents(services);
  const canDrain = atLeast(viewer.principal, "admin");
  return (
    <Layout title="Agents" page="agents" viewer={viewer}>
      <div class="title-row">
        <h1>Agents</h1>
        <span class="muted">{list.filter((a) => a.state === "online").length} online</span>
      </div>
      <table class="list">
        <thead>
          <tr>
            <th>Name</th>
            <th>Archs</th>
            <th>Group</th>
            <th>Labels</th>
            <th>Executor</th>
            <th>State</th>
            <th>Running</th>
            <th>Last heartbeat</th>
            <th>Version</th>
            {canDrain && <th />}
          </tr>
        </thead>
        <tbody>
          {list.map((a) => (
            <tr data-agent={a.name}>
              <td>
                <strong>{a.name}</strong>
                <div class="muted small">
                  {a.host}
                  {a.dynamic ? " · dynamic" : ""}
                </div>
              </td>
              <td>{a.archs.join(", ")}</td>
              <td>{a.group}</td>
              <td>
                {Object.entries(a.labels).map(([k, v]) => (
                  <span class="chip">
                    {k}={v}
                  </span>
                ))}
              </td>
              <td data-executor={a.executor}>
                {a.executor}
                <div class="muted small">
                  memory: {a.limits?.memory ?? "none"} · processes: {a.limits?.pids ?? "none"}
                </div>
              </td>
              <td>
                <Badge value={a.state} />
              </td>
              <td>
                <span class="muted">
                  {a.running.length}/{a.capacity}
                </span>
                {a.running.map((r) => (
                  <a class="chip s-running" href={`/runs/${seg(r.runId)}`}>
                    {r.task} #{r.number}
                  </a>
                ))}
              </td>
              <td title={isoTime(a.lastHeartbeatAt)}>{ago(a.lastHeartbeatAt)}</td>
              <td class="mono">{a.version}</td>
              {canDrain && (
                <td>
                  {a.connected && a.state === "online" && (
                    <Action api={`/agents/${seg(a.id)}/drain`} label="Drain" kind="danger" confirm={`Drain ${a.name}? It finishes its running attempts and leaves.`} then="reload" />
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {list.length === 0 && <p class="empty">No agents have registered yet.</p>}
    </Layout>
  );
}
