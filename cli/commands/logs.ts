import { FINAL_RUN_PHASES } from "../../shared/states.ts";
import type { AttemptView, RunView } from "../api-types.ts";
import { noExtra, parseFlags, UsageError } from "../args.ts";
import { Client, ClientError } from "../client.ts";
import type { Command } from "../command.ts";
import { prefixedLines, printJson } from "../output.ts";
import { streamStepLog } from "../step-log.ts";

const POLL_MS = 300;

function number(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} wants a whole number from ${min}`);
  return n;
}

const fetchRun = (client: Client, run: string) => client.json<RunView>("GET", `/api/v1/runs/${encodeURIComponent(run)}`);

/** The requested (or latest) attempt of `task`. */
function attemptIn(view: RunView, task: string, wanted: number | undefined): AttemptView | undefined {
  const attempts = view.tasks.find((t) => t.name === task)?.attempts ?? [];
  return wanted === undefined ? attempts.at(-1) : attempts.find((a) => a.number === wanted);
}

export const logs: Command = {
  name: "logs",
  summary: "print a run's step logs: one step, all steps of a task, or every task in order",
  usage: "drover logs RUN [TASK] [-f] [--step N] [--attempt N] [--json]",
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      follow: { type: "boolean", short: "f" },
      step: { type: "string" },
      attempt: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.json && values.follow) throw new UsageError("--json prints whole logs: it cannot follow them");
    const [run, task, ...extra] = positionals;
    if (!run) throw new UsageError("which run? (drover runs lists them)");
    noExtra(extra);
    const step = number(values.step, "--step", 0);
    const wanted = number(values.attempt, "--attempt", 1);
    const follow = values.follow ?? false;
    const client = new Client();
    let view = await fetchRun(client, run);
    if (task && !view.tasks.some((t) => t.name === task)) {
      throw new ClientError(`run ${run} has no task "${task}" (it has ${view.tasks.map((t) => t.name).join(", ")})`);
    }
    const collected: { task: string; attempt: number; step: number; log: string }[] = [];
    for (const [i, name] of (task ? [task] : view.tasks.map((t) => t.name)).entries()) {
      // Following takes time: each later task is looked up afresh, so an attempt started meanwhile is found.
      if (follow && i > 0) view = await fetchRun(client, run);
      let attempt = attemptIn(view, name, wanted);
      // Following waits for the attempt to be created.
      while (!attempt && follow && !FINAL_RUN_PHASES.has(view.phase)) {
        await Bun.sleep(POLL_MS);
        view = await fetchRun(client, run);
        attempt = attemptIn(view, name, wanted);
      }
      if (!attempt) {
        // Every task is listed when none is named; those that never started have nothing to show.
        if (task) throw new ClientError(wanted ? `task ${name} has no attempt ${wanted}` : `task ${name} has not started yet`);
        continue;
      }
      if (step !== undefined && step >= attempt.steps.length) {
        throw new ClientError(`task ${name} has ${attempt.steps.length} steps (--step counts from 0)`);
      }
      // One task's log goes out as it is; several get a prefix per line to tell them apart.
      const out = task ? { push: (c: Uint8Array) => void process.stdout.write(c), end() {} } : prefixedLines(`[${name}] `);
      for (const index of step === undefined ? attempt.steps.map((s) => s.index) : [step]) {
        const where = { run, task: name, step: index, attempt: attempt.number, follow };
        if (values.json) {
          const chunks: Uint8Array[] = [];
          await streamStepLog(client, where, (c) => chunks.push(c));
          collected.push({ task: name, attempt: attempt.number, step: index, log: Buffer.concat(chunks).toString("utf8") });
          continue;
        }
        await streamStepLog(client, where, (c) => out.push(c));
        out.end();
      }
    }
    if (values.json) printJson(collected);
    return 0;
  },
};
