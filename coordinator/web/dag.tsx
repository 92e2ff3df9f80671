/** @jsxImportSource hono/jsx */
import type { TaskSpec } from "../../shared/pipeline/types.ts";
import type { RunView } from "../runs/run-view.ts";
import { seg, span } from "./format.ts";
import { Action, Badge } from "./layout.tsx";

type Task = RunView["tasks"][number];
type Attempt = Task["attempts"][number];
/** The parts of a task's spec the DAG shows: its parents, approval and step names. */
export type TaskShape = Pick<TaskSpec, "depends" | "approval" | "steps">;

/** A live duration: browser/app.mjs keeps `data-since` values ticking until the thing ends. */
const Dur = ({ start, end }: { start: number | null; end: number | null }) => (
  <span class="dur" data-since={start && !end ? String(start) : undefined}>
    {span(start, end)}
  </span>
);

/** An attempt, linking to its first step's log (browser/run.mjs `attemptChip` builds the same). */
export const AttemptChip = ({ a, base }: { a: Attempt; base: string }) => (
  <a
    class={`chip s-${a.state}`}
    href={`${base}/steps/0?attempt=${a.number}`}
    title={[a.agentId && `agent ${a.agentId}`, a.error].filter(Boolean).join(" · ")}
  >
    #{a.number} {a.state} <Dur start={a.startedAt} end={a.endedAt} />
  </a>
);

/** A cancelled attempt's interrupted step was stopped, not failed. */
export const stepStatus = (attempt: Attempt | undefined, i: number) => {
  const status = attempt?.steps[i]?.status ?? "pending";
  return status === "failed" && attempt?.state === "stopped" ? "stopped" : status;
};

const FINAL_TASK = ["success", "failed", "stopped", "cancelled", "skipped"];

/** A running task whose attempt still waits for an agent reads "queued" (browser/run.mjs `shownStatus` too). */
export const shownStatus = (task: Task) => {
  const state = task.attempts.at(-1)?.state;
  return task.status === "running" && (state === "queued" || state === "assigned") ? "queued" : task.status;
};

const parentLabel = (d: TaskSpec["depends"][number]) =>
  d.conditions.length === 1 && d.conditions[0] === "on_success" ? d.task : `${d.task} (${d.conditions.join(", ")})`;

function TaskBox({ run, task, shape, canAct, tail }: { run: string; task: Task; shape: TaskShape; canAct: boolean; tail?: string }) {
  const latest = task.attempts.at(-1);
  const approvers = (task.annotations.approvers as string[] | undefined) ?? [];
  const base = `/runs/${seg(run)}/tasks/${seg(task.name)}`;
  return (
    <div class={`task s-${shownStatus(task)}`} data-task={task.name} data-parents={JSON.stringify(shape.depends.map((d) => d.task))}>
      <div class="task-head">
        <span class="task-name" title={task.name}>
          {task.name}
        </span>
        <Badge value={shownStatus(task)} field="status" />
      </div>
      {shape.depends.length > 0 && <div class="parents">after {shape.depends.map(parentLabel).join(", ")}</div>}
      <div class="attempts" data-field="attempts">
        {task.attempts.map((a) => (
          <AttemptChip a={a} base={base} />
        ))}
      </div>
      <ol class="steps">
        {shape.steps.map((s, i) => (
          <li>
            <a class={`step s-${stepStatus(latest, i)}`} data-step={i} href={`${base}/steps/${i}`}>
              {s.name}
            </a>
          </li>
        ))}
      </ol>
      {shape.approval && (
        <div class="approval">
          <span data-field="approvals" data-min={String(shape.approval.minApprovers)}>
            {`${approvers.length}/${shape.approval.minApprovers} approvals`}
          </span>
          {canAct && (
            <Action
              api={`/runs/${seg(run)}/tasks/${seg(task.name)}/approve`}
              label="Approve"
              kind="primary"
              showStatus={["waiting_approval"]}
              hidden={task.status !== "waiting_approval"}
            />
          )}
        </div>
      )}
      <div class="message" data-field="message">
        {task.statusMessage ?? ""}
      </div>
      {task.status === "failed" && latest && (
        <div class="failure">
          {latest.exitCode !== null ? `exit code ${latest.exitCode}` : (latest.error ?? "failed")}
          {tail && <pre class="tail">{tail}</pre>}
        </div>
      )}
      {canAct && (
        <div class="task-actions">
          <Action
            api={`/runs/${seg(run)}/tasks/${seg(task.name)}/rerun`}
            label={`Rerun ${task.name}`}
            showStatus={FINAL_TASK}
            hidden={!FINAL_TASK.includes(task.status)}
          />
        </div>
      )}
    </div>
  );
}

/** A level's tasks with a matrix task's combinations (`test[arch=amd64,node=20]`, …) together under its name. */
function groupMatrix(tasks: Task[]): [string, Task[]][] {
  const groups = new Map<string, Task[]>();
  for (const t of tasks) {
    const base = t.name.split("[")[0]!;
    groups.set(base, [...(groups.get(base) ?? []), t]);
  }
  return [...groups];
}

/** Tasks in columns by DAG level; browser/run.mjs draws the dependency lines between the boxes. */
export function Dag({ run, shapes, canAct, tails = new Map() }: { run: RunView; shapes: Map<string, TaskShape>; canAct: boolean; tails?: Map<string, string> }) {
  const levels = new Map<number, Task[]>();
  for (const t of run.tasks) levels.set(t.level, [...(levels.get(t.level) ?? []), t]);
  return (
    <div class="dag" id="dag">
      <svg class="edges" aria-hidden="true" />
      {[...levels.entries()]
        .sort(([a], [b]) => a - b)
        .map(([level, tasks]) => (
          <div class="level">
            <div class="level-name">stage {level + 1}</div>
            {groupMatrix(tasks).map(([base, members]) => {
              const boxes = members.map((t) => (
                <TaskBox run={run.id} task={t} shape={shapes.get(t.name) ?? { depends: [], steps: [] }} canAct={canAct} tail={tails.get(t.name)} />
              ));
              return members.length > 1 || members[0]!.name !== base ? (
                <div class="matrix" data-matrix={base}>
                  <div class="matrix-name">{`${base} · matrix of ${members.length}`}</div>
                  {boxes}
                </div>
              ) : (
                boxes
              );
            })}
          </div>
        ))}
    </div>
  );
}
