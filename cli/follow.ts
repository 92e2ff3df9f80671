import { FINAL_RUN_PHASES, FINAL_TASK_STATUSES } from "../shared/states.ts";
import type { AttemptView, RunView } from "./api-types.ts";
import type { Client } from "./client.ts";
import { prefixedLines } from "./output.ts";
import { statusLine, waitingNote } from "./run-report.ts";
import { streamStepLog } from "./step-log.ts";

const POLL_MS = 300;
/** An attempt has (or had) logs once an agent accepted it. */
const STARTED_ATTEMPT_STATES: ReadonlySet<AttemptView["state"]> = new Set(["running", "success", "failed", "stopped", "error", "lost"]);

export interface FollowOptions {
  client: Client;
  run: string;
  /** stream logs, notes and task status lines to stdout; without it, only wait for the end */
  print?: boolean;
  /**
   * the run as it was before a rerun: its attempts are left out, and its ended tasks with no attempt since
   * (only the new attempts are followed, even those that ended before following began)
   */
  before?: RunView;
}

interface Followed {
  attempts: Map<number, Promise<void>>;
  ended: boolean;
  note: string | null;
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

/**
 * Follows a run to its end by polling it: each attempt's step logs stream as soon as the attempt
 * starts; why a task waits (an approval, no agent) is said once each time it changes; a task's status
 * line comes after the last of its logs, and the lines come in the order the tasks ended, so a failure
 * is printed before what it caused (the tasks skipped or cancelled because of it).
 */
export async function followRun({ client, run: id, print = true, before }: FollowOptions): Promise<RunView> {
  const followed = new Map<string, Followed>();
  const write = (text: string) => void process.stdout.write(text);
  let lines = Promise.resolve();
  for (;;) {
    const run = await client.json<RunView>("GET", `/api/v1/runs/${encodeURIComponent(id)}`);
    if (print) {
      for (const task of run.tasks) {
        let f = followed.get(task.name);
        if (!f) {
          f = { attempts: new Map(), ended: false, note: null };
          followed.set(task.name, f);
          const was = before?.tasks.find((t) => t.name === task.name);
          if (was) {
            for (const a of was.attempts) f.attempts.set(a.number, Promise.resolve());
            f.ended = FINAL_TASK_STATUSES.has(was.status) && task.attempts.length === was.attempts.length;
          }
        }
        const note = waitingNote(run, task, client.url);
        if (note !== f.note) {
          if (note) write(`--> ${note}\n`);
          f.note = note;
        }
        for (const attempt of task.attempts) {
          if (!STARTED_ATTEMPT_STATES.has(attempt.state) || f.attempts.has(attempt.number)) continue;
          f.attempts.set(attempt.number, followAttempt(client, id, task.name, attempt));
        }
        // a rerun brings an ended task back
        if (f.ended && !FINAL_TASK_STATUSES.has(task.status)) f.ended = false;
        if (f.ended || !FINAL_TASK_STATUSES.has(task.status)) continue;
        f.ended = true;
        const logs = [...f.attempts.values()];
        lines = lines.then(() => Promise.all(logs)).then(() => write(statusLine(task)));
      }
    }
    if (FINAL_RUN_PHASES.has(run.phase)) {
      const attempts = [...followed.values()].flatMap((f) => [...f.attempts.values()]);
      await Promise.all([lines, ...attempts]);
      return run;
    }
    await Bun.sleep(POLL_MS);
  }
}
