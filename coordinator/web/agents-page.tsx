/** @jsxImportSource hono/jsx */
import { inArray } from "drizzle-orm";
import type { Services } from "../services.ts";
import { attempts } from "../db/schema.ts";
import { listAgents } from "../fleet/agent-list.ts";
import { atLeast } from "./auth.ts";
import { queueDepth } from "../dispatch/queue-depth.ts";
import { ago, duration, isoTime, seg } from "./format.ts";
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

/** What waits for an agent, per group, arch and labels: the queue an autoscaler sizes pools by. */
function QueueTable({ services }: { services: Services }) {
  const pools = queueDepth(services.dispatcher.waiting());
  return (
    <section class="section" aria-labelledby="queue-title">
      <h2 id="queue-title">Queue</h2>
      {pools.length === 0 ? (
        <p class="muted">Nothing waits for an agent.</p>
      ) : (
        <table class="list" id="queue">
          <thead>
            <tr>
              <th scope="col">Group</th>
              <th scope="col">Arch</th>
              <th scope="col">Labels</th>
              <th scope="col">Waiting</th>
              <th scope="col">Oldest</th>
            </tr>
          </thead>
          <tbody>
            {pools.map((p) => (
              <tr>
                <td>{p.group}</td>
                <td>{p.arch}</td>
                <td>{Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(", ")}</td>
                <td>{p.queued}</td>
                <td>{duration(p.oldestAgeSeconds * 1000)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/**
 * The command that installs an agent on another machine; the button makes a fresh registration token
 * (POST /api/v1/agent-tokens) and browser/agents.mjs puts it into the command.
 */
const AddAgent = () => (
  <section class="section card" aria-labelledby="add-agent-title" id="add-agent">
    <h2 id="add-agent-title">Add an agent</h2>
    <p>On the new build machine, as root (systemd keeps it running), run:</p>
    <pre class="command" id="add-agent-command">curl -fsSL &lt;this address&gt;/install.sh | sh -s -- --token &lt;registration token&gt;</pre>
    <label>
      Executor group (optional)
      <input type="text" id="add-agent-group" placeholder="default" />
    </label>
    <button type="button" class="btn primary" id="add-agent-token">
      Make a registration token
    </button>
  </section>
);

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
                  {a.limits?.pidNamespace !== undefined && (
                    <span title={a.limits.pidNamespaceWhyNot ?? undefined}> · PID namespace: {a.limits.pidNamespace ? "yes" : "no"}</span>
                  )}
                </div>
              </td>
              <td>
                <Badge value={a.state} />
                {a.paused && <Badge value="paused" field="paused" />}
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
                <td class="row-actions">
                  {a.paused ? (
                    <Action api={`/agents/${seg(a.id)}/resume`} label="Resume" then="reload" />
                  ) : (
                    <Action api={`/agents/${seg(a.id)}/pause`} label="Pause" then="reload" />
                  )}
                  {a.connected && a.state === "online" && (
                    <Action api={`/agents/${seg(a.id)}/drain`} label="Drain" kind="danger" confirm={`Drain ${a.name}? It finishes its running attempts and leaves.`} then="reload" />
                  )}
                  {a.state === "offline" && !a.connected && (
                    <Action api={`/agents/${seg(a.id)}`} method="DELETE" label="Remove" kind="danger" confirm={`Remove ${a.name}? Its record goes; it can register again.`} then="reload" />
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {list.length === 0 && <p class="empty">No agents have registered yet.</p>}
      <QueueTable services={services} />
      {canDrain && <AddAgent />}
    </Layout>
  );
}
