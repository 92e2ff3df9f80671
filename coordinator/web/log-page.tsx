/** @jsxImportSource hono/jsx */
import type { Db } from "../db/open.ts";
import { runView } from "../runs/run-view.ts";
import { loadRunWithSteps } from "../runs/load-run.ts";
import { seg, span } from "./format.ts";
import { Badge, Layout, type Viewer } from "./layout.tsx";

interface Params {
  db: Db;
  viewer: Viewer;
  id: string;
  task: string;
  index: number;
  /** an attempt number from the query string; the latest attempt without one */
  attempt?: number;
}

/** One step's log, followed live by browser/log.mjs, or undefined when the run, task or step does not exist. */
export async function LogPage({ db, viewer, id, task: taskName, index, attempt: wanted }: Params) {
  const stored = await loadRunWithSteps(db, id);
  if (!stored) return undefined;
  const run = runView(stored);
  const task = run.tasks.find((t) => t.name === taskName);
  if (!task) return undefined;
  const attempt = wanted ? task.attempts.find((a) => a.number === wanted) : task.attempts.at(-1);
  if (wanted && !attempt) return undefined;
  const step = attempt?.steps[index];
  if (attempt && !step) return undefined;
  const base = `/runs/${seg(run.id)}/tasks/${seg(task.name)}/steps/${index}`;
  const pin = attempt ? `attempt=${attempt.number}` : "";
  // before the first attempt exists the log is fetched without a pin, and browser/log.mjs retries until it does
  const src = `/api/v1${base}/log?follow=1${pin ? `&${pin}` : ""}`;
  return (
    <Layout title={`${task.name} · step ${index}`} page="log" viewer={viewer} data={{ run: run.id, src, task: task.name, step: String(index), attempt: String(attempt?.number ?? "") }}>
      <nav class="crumbs">
        <a href="/">Runs</a> › <a href={`/runs/${seg(run.id)}`}>{run.id}</a> › <span>{task.name}</span>
      </nav>
      <div class="title-row">
        <h1>{step?.name ?? `step ${index}`}</h1>
        {step && <Badge value={step.status} field="status" />}
        {step && (
          <span class="muted dur" data-field="duration" data-since={step.startedAt && !step.endedAt ? String(step.startedAt) : undefined}>
            {span(step.startedAt, step.endedAt)}
          </span>
        )}
        <span class="live" id="live" title="following" />
      </div>
      <div class="toolbar">
        {task.attempts.length > 1 && (
          <span class="attempt-links">
            Attempt
            {task.attempts.map((a) => (
              <a class={`chip s-${a.state}${a.number === attempt?.number ? " current" : ""}`} href={`${base}?attempt=${a.number}`}>
                #{a.number} {a.state}
              </a>
            ))}
          </span>
        )}
        <input id="log-search" type="search" placeholder="Search the log" aria-label="Search the log" />
        <span id="log-count" class="muted" />
        <label class="toggle" title="when each line was read from the step's output">
          <input type="checkbox" id="log-timestamps" /> Timestamps
        </label>
        <button type="button" class="btn" id="log-first-error" hidden>
          Jump to the first error
        </button>
        <a class="btn" href={`${base}/log.txt${pin ? `?${pin}` : ""}`} download>
          Download
        </a>
      </div>
      <pre id="log" class="log" />
      <p id="log-state" class="muted">
        {attempt ? "Loading…" : "This task has not started yet; the log appears when it does."}
      </p>
    </Layout>
  );
}
