/** @jsxImportSource hono/jsx */
import type { Services } from "../services.ts";
import { deliveryView, listDeliveries } from "../forges/deliveries.ts";
import { ago, isoTime, seg } from "./format.ts";
import { Layout, type Viewer } from "./layout.tsx";

/** Colours of the outcomes, in the badges' status classes: a run, nothing to do, or something to look at. */
const OUTCOME_CLASS: Record<string, string> = {
  pending: "running",
  created: "success",
  filtered: "skipped",
  ignored: "skipped",
  duplicate: "skipped",
  refused: "failed",
  invalid: "failed",
  no_pipeline: "waiting_approval",
  invalid_pipeline: "failed",
  unreachable: "failed",
};

/** A project's recent webhook deliveries and what became of each; undefined when there is no such project. */
export async function DeliveriesPage({ services, viewer, name }: { services: Services; viewer: Viewer; name: string }) {
  const project = await services.projects.get(name);
  if (!project) return undefined;
  const rows = (await listDeliveries(services.db, project.id, 100)).map(deliveryView);
  return (
    <Layout title={`${project.name}: deliveries`} page="deliveries" viewer={viewer}>
      <div class="title-row">
        <h1>
          <a href={`/projects/${seg(project.name)}`}>{project.name}</a>: webhook deliveries
        </h1>
        <span class="muted">{rows.length ? `latest ${rows.length}` : "none yet"}</span>
      </div>
      <table class="list deliveries">
        <thead>
          <tr>
            <th>Received</th>
            <th>Forge</th>
            <th>Event</th>
            <th>Ref</th>
            <th>Outcome</th>
            <th>Why</th>
            <th>Delivery</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d) => (
            <tr data-delivery={d.delivery_id ?? ""}>
              <td title={isoTime(d.received_at)}>{ago(d.received_at)}</td>
              <td>{d.forge ?? "?"}</td>
              <td>{d.event ?? ""}</td>
              <td class="mono">{d.ref ?? ""}</td>
              <td>
                <span class={`badge s-${OUTCOME_CLASS[d.outcome] ?? "skipped"}`} data-field="outcome">
                  {d.outcome.replaceAll("_", " ")}
                </span>{" "}
                {d.run && <a href={`/runs/${seg(d.run.id)}`}>#{d.run.number ?? d.run.id}</a>}
              </td>
              <td class="small">{d.reason ?? ""}</td>
              <td class="mono small">
                {d.delivery_id ?? ""} <span class="muted">{d.status}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  );
}
