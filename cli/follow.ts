import { FINAL_RUN_PHASES, FINAL_TASK_STATUSES } from "../coordinator/engine/types.ts";
import type { AttemptView, RunView, TaskView } from "./api-types.ts";
import type { Client } from "./client.ts";
import type { RunSummary } from "./api-types.ts";
import { duration, paint, prefixedLines, printJson, runLabel, statusColour } from "./output.ts";
import { streamStepLog } from "./step-log.ts";

const POLL_MS = 300;
/** An attempt has (or had) logs once an agent accepted it. */
const STARTED_ATTEMPT_STATES: ReadonlySet<AttemptView["state"]> = new Set(["running", "success", "failed", "stopped", "error", "lost"]);

export interface FollowOptions {
  client: Client;
  run: string;
  /** stream logs and task status lines to stdout; without it, only wait for the end */
  print?: boolean;
}

interface Followed {
  attempts: Map<number, Promise<void>>;
  ended: boolean;
}

async function followAttempt(client: Client, run: string, task: string, attempt: AttemptView): Promise<void> {
  const out = prefixedLines(`[${task}] `);
  if (attempt.number > 1) out.push(new TextEncoder().encode(`--- attempt ${attempt.number} ---\n`));
  try {
    // Steps run one after another, so following them in order keeps the task's output in order.
    for (const step of attempt.steps) {
      await streamStepLog(client, { run, task, step: step.index, attempt: attempt.number, follow: true }, (c) => out.push(c));
      out.end();
    }
  } catch (e) {
    out.end();
    console.error(`[${task}] log unavailable: ${(e as Error).message}`);
  }
}

function statusLine(task: TaskView): string {
  const last = task.attempts.at(-1);
  const why = task.status === "success" ? null : (task.statusMessage ?? last?.error ?? (last?.exitCode ? `exit code ${last.exitCode}` : null));
  const text = `==> ${task.name} ${task.status}${why ? `: ${why}` : ""} (${duration(task.startedAt, task.endedAt)})`;
  return `${paint(text, statusColour(task.status))}\n`;
}

/**
 * Follows a run to its end by polling it: each attempt's step logs stream as soon as
 * the attempt starts, and a task's status line comes after the last of its logs.
 */
export async function followRun({ client, run: id, print = true }: FollowOptions): Promise<RunView> {
  const followed = new Map<string, Followed>();
  const pending: Promise<void>[] = [];
  for (;;) {
    const run = await client.json<RunView>("GET", `/api/v1/runs/${encodeURIComponent(id)}`);
    if (print) {
      for (const task of run.tasks) {
        const f = followed.get(task.name) ?? { attempts: new Map(), ended: false };
        followed.set(task.name, f);
        for (const attempt of task.attempts) {
          if (!STARTED_ATTEMPT_STATES.has(attempt.state) || f.attempts.has(attempt.number)) continue;
          f.attempts.set(attempt.number, followAttempt(client, id, task.name, attempt));
        }
        if (f.ended || !FINAL_TASK_STATUSES.has(task.status)) continue;
        f.ended = true;
        pending.push(Promise.all(f.attempts.values()).then(() => void process.stdout.write(statusLine(task))));
      }
    }
    if (FINAL_RUN_PHASES.has(run.phase)) {
      const attempts = [...followed.values()].flatMap((f) => [...f.attempts.values()]);
      await Promise.all([...pending, ...attempts]);
      return run;
    }
    await Bun.sleep(POLL_MS);
  }
}

/** What `drover run` and `drover project run` do with the run they started: follow it, say how it ended, exit 0 on success. */
export async function followToEnd(client: Client, created: RunSummary, json = false): Promise<number> {
  console.error(`run ${runLabel(created)}${created.project ? ` (${created.id})` : ""} in group ${created.group}`);
  const ended = await followRun({ client, run: created.id, print: !json });
  if (json) printJson(ended);
  else {
    const why = ended.error ? ` (${ended.error})` : "";
    console.log(paint(`run ${runLabel(ended)} ${ended.phase}: ${ended.result}${why}`, statusColour(ended.result)));
  }
  return ended.result === "success" ? 0 : 1;
}
