/** @jsxImportSource hono/jsx */
import { eq, max } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { events } from "../db/schema.ts";
import { runView } from "../runs/run-view.ts";
import { latestStatusEvent } from "../forges/status-events.ts";
import { loadRunWithSteps } from "../runs/load-run.ts";
import { atLeast } from "./auth.ts";
import { Dag, type TaskShape } from "./dag.tsx";
import { ACTIVE_PHASES, FINAL_PHASES, ago, isoTime, seg, span } from "./format.ts";
import { Action, Badge, Layout, type Viewer } from "./layout.tsx";
import { runLabel } from "../../shared/format.ts";
import { SourceFacts } from "./source.tsx";
import type { ObjectStore } from "../store/object-store.ts";
import { ApprovalBanner, ArtifactList, cancelledBy, failureTails, TestList } from "./run-extras.tsx";

/** A run that ended with one of these has something a restart from failed would run again. */
const UNSUCCESSFUL = ["failed", "stopped", "error"];

/** The run page, or undefined when there is no such run. */
export async function RunPage({ db, store, viewer, id }: { db: Db; store: ObjectStore; viewer: Viewer; id: string }) {
  // the last event before the view is read: the client's event stream starts after it, missing nothing
  const [last] = await db.select({ seq: max(events.seq) }).from(events).where(eq(events.runId, id));
  const stored = await loadRunWithSteps(db, id);
  if (!stored) return undefined;
  // the latest status the forge would not take, unless it took a later one since
  const status = await latestStatusEvent(db, id);
  const refused = status?.error ? status : undefined;
  const run = runView(stored);
  // runView leaves task specs out; the DAG needs their parents, approvals and step names
  const shapes = new Map<string, TaskShape>(stored.tasks.map((t) => [t.name, t.spec]));
  const canAct = atLeast(viewer.principal, "member");
  const active = ACTIVE_PHASES.includes(run.phase);
  const canceller = await cancelledBy(db, id);
  const tails = await failureTails(store, run);
  return (
    <Layout title={`Run ${runLabel(run)}`} page="run" viewer={viewer} data={{ run: run.id, phase: run.phase, after: String(last?.seq ?? 0) }}>
      <div class="title-row">
        <h1>
          Run {run.project ? runLabel(run) : <span class="mono">{run.id}</span>}
        </h1>
        <Badge value={run.phase} field="phase" />
        <Badge value={run.result} field="result" />
        <span class="live" id="live" title="live updates" />
        {canAct && (
          <div class="actions">
            <Action api={`/runs/${seg(run.id)}/cancel`} label="Cancel" kind="danger" confirm="Cancel this run?" showPhase={ACTIVE_PHASES} hidden={!active} />
            <Action api={`/runs/${seg(run.id)}/restart`} body={{ from: "scratch" }} label="Restart" then="open-run" showPhase={FINAL_PHASES} hidden={active} />
            <Action
              api={`/runs/${seg(run.id)}/restart`}
              body={{ from: "failed" }}
              label="Restart failed"
              then="open-run"
              showResult={UNSUCCESSFUL}
              hidden={active || !UNSUCCESSFUL.includes(run.result)}
            />
          </div>
        )}
      </div>
      <dl class="facts">
        <dt>Group</dt>
        <dd>
          <a href={`/?group=${seg(run.group)}`}>{run.group}</a>
        </dd>
        <dt>User</dt>
        <dd>{run.user}</dd>
        <dt>Created</dt>
        <dd title={isoTime(run.createdAt)}>{ago(run.createdAt)}</dd>
        <dt>Duration</dt>
        <dd>
          <span class="dur" data-field="duration" data-since={run.startedAt && !run.endedAt ? String(run.startedAt) : undefined}>
            {span(run.startedAt, run.endedAt) || "not started"}
          </span>
        </dd>
        <SourceFacts run={run} />
        {run.variables.length > 0 && <dt>Variables</dt>}
        {run.variables.length > 0 && <dd class="mono">{run.variables.join(", ")}</dd>}
      </dl>
      <p class="links">
        <a href={`/runs/${seg(run.id)}/log.txt`} download>
          Download the whole run's log
        </a>
        {" · "}
        <a href={`/api/v1/runs/${seg(run.id)}/tests`}>Test results (JSON)</a>
      </p>
      <ApprovalBanner run={run} shapes={shapes} canAct={canAct} />
      {canceller && (
        <p class="notice" data-field="cancelled-by">
          Cancelled by {canceller}
        </p>
      )}
      {run.error && <p class="error">{run.error}</p>}
      {refused && (
        <p class="error" data-field="forge-status">
          The forge did not take this run's {refused.state} commit status ({String(refused.context)}): {refused.error}
        </p>
      )}
      <Dag run={run} shapes={shapes} canAct={canAct} tails={tails} />
      <TestList db={db} run={run.id} />
      <ArtifactList db={db} run={run.id} />
      <details class="card pipeline">
        <summary>Pipeline ({run.pipelineFile})</summary>
        <pre>{run.pipeline}</pre>
      </details>
    </Layout>
  );
}
