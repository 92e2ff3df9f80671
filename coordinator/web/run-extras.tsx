/** @jsxImportSource hono/jsx */
import { stripVTControlCharacters } from "node:util";
import { and, asc, desc, eq } from "drizzle-orm";
import { formatBytes } from "../../shared/format.ts";
import type { RunView } from "../runs/run-view.ts";
import type { Db } from "../db/open.ts";
import { artifacts, events } from "../db/schema.ts";
import type { ObjectStore } from "../store/object-store.ts";
import { runCases } from "../tests/store.ts";
import type { TaskShape } from "./dag.tsx";
import { duration, seg } from "./format.ts";
import { Action } from "./layout.tsx";

type Task = RunView["tasks"][number];

/**
 * Tasks waiting for approval, at the top of the page and kept in view while it scrolls: who approved,
 * how many more are needed, and the button. Every task with an approval has a line, shown while it
 * waits; browser/run.mjs keeps the lines current.
 */
export function ApprovalBanner({ run, shapes, canAct }: { run: RunView; shapes: Map<string, TaskShape>; canAct: boolean }) {
  const gated = run.tasks.filter((t) => shapes.get(t.name)?.approval);
  return (
    <section class="banner" id="approvals" aria-label="Approvals" hidden={!gated.some((t) => t.status === "waiting_approval")}>
      {gated.map((t) => {
        const min = shapes.get(t.name)!.approval!.minApprovers;
        return (
          <div class="banner-line" data-approval={t.name} data-min={String(min)} hidden={t.status !== "waiting_approval"}>
            <span data-field="approval-text">{approvalText(t.name, (t.annotations.approvers as string[] | undefined) ?? [], min)}</span>
            {canAct && <Action api={`/runs/${seg(run.id)}/tasks/${seg(t.name)}/approve`} label={`Approve ${t.name}`} kind="primary" />}
          </div>
        );
      })}
    </section>
  );
}

/** As browser/run.mjs `approvalText`. */
export function approvalText(task: string, approvers: string[], min: number): string {
  const by = approvers.length ? `approved by ${approvers.join(", ")}; ` : "";
  const left = min - approvers.length;
  return `${task} is waiting for approval: ${by}${left} more ${left === 1 ? "approver" : "approvers"} needed`;
}

/** Who asked for the run to be cancelled, from its `cancel` event. */
export async function cancelledBy(db: Db, runId: string): Promise<string | null> {
  const [event] = await db
    .select({ data: events.data })
    .from(events)
    .where(and(eq(events.runId, runId), eq(events.kind, "cancel")))
    .orderBy(desc(events.seq))
    .limit(1);
  return event ? String(event.data.user) : null;
}

const TAIL_BYTES = 4096;
const TAIL_LINES = 8;

/** The last lines of the step that failed a task's latest attempt, to show on its card. */
export async function failureTails(store: ObjectStore, run: RunView): Promise<Map<string, string>> {
  const tails = new Map<string, string>();
  for (const task of run.tasks) {
    if (task.status !== "failed") continue;
    const step = task.attempts.at(-1)?.steps.find((s) => s.status === "failed");
    if (!step?.logObject || step.logSize === 0) continue;
    const body = await store.get(step.logObject, { start: Math.max(0, step.logSize - TAIL_BYTES) }).catch(() => null);
    if (!body) continue;
    const text = stripVTControlCharacters(await new Response(body).text()).trimEnd();
    tails.set(task.name, text.split("\n").slice(-TAIL_LINES).join("\n"));
  }
  return tails;
}

/** The run's artifacts, with their size and a download link. */
export async function ArtifactList({ db, run }: { db: Db; run: string }) {
  const rows = await db.select().from(artifacts).where(eq(artifacts.runId, run)).orderBy(asc(artifacts.task), asc(artifacts.path));
  if (rows.length === 0) return null;
  return (
    <section class="card section" aria-labelledby="artifacts-title">
      <h2 id="artifacts-title">Artifacts</h2>
      <ul class="artifacts">
        {rows.map((a) => (
          <li>
            <a href={`/runs/${seg(run)}/artifacts/${seg(a.task)}/${a.path.split("/").map(seg).join("/")}`} download>
              {a.path}
            </a>{" "}
            <span class="muted small">
              {a.task} · {formatBytes(a.size)}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Test cases from the run's test_results steps: failed first, with their message and time. */
export async function TestList({ db, run }: { db: Db; run: string }) {
  const { summary, cases } = await runCases(db, run);
  if (summary.total === 0) return null;
  const bad = summary.failed + summary.error;
  return (
    <section class="card section" aria-labelledby="tests-title" id="tests">
      <h2 id="tests-title">
        Tests <span class="muted small">{`${summary.total} tests: ${bad} failed, ${summary.skipped} skipped, ${summary.passed} passed`}</span>
      </h2>
      <table class="list tests">
        <thead>
          <tr>
            <th scope="col">Result</th>
            <th scope="col">Test</th>
            <th scope="col">Task</th>
            <th scope="col">Time</th>
          </tr>
        </thead>
        <tbody>
          {cases.map((c) => (
            <tr class={`case s-${c.status}`} data-case={c.name}>
              <td>
                <span class={`badge s-${c.status}`}>{c.status}</span>
              </td>
              <td>
                <div>
                  {c.suite && <span class="muted">{c.suite} › </span>}
                  {c.name}
                </div>
                {c.message && c.status !== "passed" && <div class="case-message">{c.message}</div>}
                {c.details && c.status !== "passed" && (
                  <details>
                    <summary class="small">details</summary>
                    <pre class="case-details">{c.details}</pre>
                  </details>
                )}
              </td>
              <td>{c.task}</td>
              <td class="small">{c.durationMs === null ? "" : duration(c.durationMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
