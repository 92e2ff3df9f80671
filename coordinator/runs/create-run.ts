import { eq, sql } from "drizzle-orm";
import { DroverError } from "../../shared/errors.ts";
import { newId } from "../../shared/ids.ts";
import { preciseNow } from "../../shared/precise-clock.ts";
import { type Pipeline, parsePipeline, pipelineTooLarge, tooLarge } from "../../shared/pipeline/index.ts";
import type { RunSource } from "../../shared/source.ts";
import { Gatherer, type Write, writeAll } from "../db/batch.ts";
import type { Db } from "../db/open.ts";
import { insertRows } from "../db/plain-statements.ts";
import { attempts, events, projects, runs, steps, tasks } from "../db/schema.ts";
import { advance } from "../engine/advance.ts";
import { type ActiveRun, type AttemptRow, engineInput, type RunRow, type StepRow, type TaskRow } from "./active-run.ts";
import { applyDecisions, type Decisions, decide } from "./decision-writes.ts";
import { groupGuard } from "./group-guard.ts";
import type { Scheduler } from "./scheduler.ts";

export interface NewRun {
  pipeline: string;
  pipelineFile?: string;
  group: string;
  user: string;
  variables?: Record<string, string>;
  /** object key of the uploaded workspace archive, if any */
  workspace?: string | null;
  /** a repository run: numbered within its project */
  project?: { id: string; name: string } | null;
  source?: RunSource | null;
  /** tasks that start out skipped, with the reason (a `changed:` filter no changed file matched) */
  skip?: ReadonlyMap<string, string>;
  /** why the run cannot be set up (restarted without its workspace archive): the engine ends it in `setuperror` */
  setupError?: string | null;
  /** the pipeline already parsed from `pipeline`, so it is not parsed twice */
  parsed?: Pipeline;
}

/** Results carried over from an earlier run (restart from failed): task name → its kept attempt and steps. */
export type KeptResults = Map<string, { attempt: AttemptRow; steps: StepRow[] }>;

/** Validates the pipeline before anything is stored: an invalid file never becomes a run. */
export async function createRun(db: Db, scheduler: Scheduler, input: NewRun, kept: KeptResults = new Map()): Promise<RunRow> {
  const file = input.pipelineFile ?? ".drover.yml";
  if (pipelineTooLarge(input.pipeline)) throw new DroverError("too_large", tooLarge(input.pipeline, file));
  const parsed = input.parsed ? { pipeline: input.parsed } : parsePipeline(input.pipeline, file);
  if (!("pipeline" in parsed)) throw new DroverError("invalid_pipeline", parsed.errors.join("\n"), { errors: parsed.errors });
  const now = Date.now();
  const run: RunRow = {
    id: newId(),
    group: input.group,
    user: input.user,
    pipeline: input.pipeline,
    pipelineFile: file,
    variables: input.variables ?? {},
    workspace: input.workspace ?? null,
    cacheGroup: parsed.pipeline.cacheGroup ?? null,
    phase: "queued",
    result: "unknown",
    error: input.setupError ?? null,
    cancelRequestedAt: null,
    createdAt: now,
    startedAt: null,
    endedAt: null,
    projectId: input.project?.id ?? null,
    project: input.project?.name ?? null,
    number: null,
    source: input.source ?? null,
    statusPosted: null,
    // taken as the run is written (below): this node drives the runs it creates
    ownerNode: null,
    ownerEpoch: 0,
    ownerExpiresAt: 0,
  };
  const keptAttempts: AttemptRow[] = [];
  const keptSteps: StepRow[] = [];
  const taskRows: TaskRow[] = parsed.pipeline.tasks.map((spec) => {
    const id = newId();
    const carried = kept.get(spec.name);
    const skipped = carried ? undefined : input.skip?.get(spec.name);
    if (carried) {
      const keptFrom = carried.attempt.keptFrom ?? carried.attempt.id;
      const attempt = { ...carried.attempt, id: newId(), runId: run.id, taskId: id, number: 1, keptFrom };
      keptAttempts.push(attempt);
      keptSteps.push(...carried.steps.map((s) => ({ ...s, attemptId: attempt.id })));
    }
    return {
      id,
      runId: run.id,
      name: spec.name,
      level: spec.level,
      spec: { ...spec, env: { ...parsed.pipeline.env, ...spec.env } },
      status: carried ? "success" : skipped ? "skipped" : "notstarted",
      statusMessage: carried ? `kept from run ${carried.attempt.runId}` : (skipped ?? null),
      annotations: {},
      startedAt: carried?.attempt.startedAt ?? null,
      endedAt: carried?.attempt.endedAt ?? null,
    };
  });
  return store(db, scheduler, { run, taskRows, keptAttempts, keptSteps });
}

interface Unwritten {
  run: RunRow;
  taskRows: TaskRow[];
  keptAttempts: AttemptRow[];
  keptSteps: StepRow[];
}

interface Waiting extends Unwritten {
  db: Db;
  stored: (run: RunRow) => void;
  refused: (e: unknown) => void;
}

/**
 * Per scheduler, the runs waiting for the group write queued in its `serial`'s lane of creations (taking turns
 * with agents' reports, not behind all of them), at most 32 a group: a larger group would hold the event loop
 * (and every other request) for one long synchronous stretch.
 */
const waiting = new Gatherer<Scheduler, Waiting>(32, (scheduler, take) => {
  void scheduler.serial.create(() => {
    const group = take();
    return writeGroup(group[0]!.db, scheduler, group);
  });
});

/**
 * Stores a run and starts it; resolves once it is in the database. Runs submitted while the scheduler is busy
 * wait together and are written in one transaction (a group commit), already started: the engine's first
 * decisions on each (its run running, its first attempts queued) are in the rows written, one commit for the
 * group instead of two a run.
 */
function store(db: Db, scheduler: Scheduler, run: Unwritten): Promise<RunRow> {
  return new Promise((stored, refused) => waiting.add(scheduler, { ...run, db, stored, refused }));
}

/** A new run with the engine's first decisions on it, not yet applied: its rows are written with them. */
interface Started {
  waiting: Waiting;
  active: ActiveRun;
  out: ReturnType<typeof advance>;
  decided: Decisions;
}

/**
 * Writes `group` in one batch. With `start`, runs of groups without a concurrency limit are written started; a
 * limited group's admission depends on the phases of its other runs, so those (and all of a group written again
 * alone after a refusal) are written queued and advanced after, each in its turn.
 */
async function writeGroup(db: Db, scheduler: Scheduler, group: Waiting[], start = true): Promise<void> {
  const at = preciseNow();
  const now = Math.floor(at);
  for (const { run } of group) Object.assign(run, scheduler.leases.fresh(run.id, 1, now));
  const started = new Map<Waiting, Started>();
  for (const w of group) if (start && !scheduler.groupLimits.has(w.run.group)) started.set(w, firstDecisions(w, at));
  const decided = (w: Waiting) => started.get(w)?.decided;
  const runRow = (w: Waiting) => ({ ...w.run, ...decided(w)?.run });
  const writes: Write[] = [];
  const numbered: Waiting[] = [];
  for (const w of group) {
    const projectId = w.run.projectId;
    if (!projectId) continue;
    // The number is read and advanced in the run's own batch, so two coordinators never hand out the same one.
    const next = sql`(select ${projects.nextRunNumber} from ${projects} where ${projects.id} = ${projectId})`;
    writes.push(db.insert(runs).values({ ...runRow(w), number: next }).returning({ number: runs.number }));
    writes.push(db.update(projects).set({ nextRunNumber: sql`${projects.nextRunNumber} + 1` }).where(eq(projects.id, projectId)));
    numbered.push(w);
  }
  const taskRows = (w: Waiting) => {
    const patched = new Map(decided(w)?.tasks.map((t) => [t.row, t.patch]));
    return w.taskRows.map((t) => ({ ...t, ...patched.get(t) }));
  };
  const rows = (pick: (w: Waiting) => object[]) => group.flatMap(pick) as never[];
  // plain statements (plain-statements.ts): a group's rows are many, and drizzle would build their SQL each time
  writes.push(...insertRows(runs, rows((w) => (w.run.projectId ? [] : [runRow(w)]))));
  writes.push(...insertRows(tasks, rows(taskRows)));
  writes.push(...insertRows(attempts, rows((w) => [...w.keptAttempts, ...(decided(w)?.created.map((c) => c.attempt) ?? [])])));
  writes.push(...insertRows(steps, rows((w) => [...w.keptSteps, ...(decided(w)?.created.flatMap((c) => c.steps) ?? [])])));
  writes.push(...insertRows(events, rows((w) => decided(w)?.events ?? [])));
  // after the inserts, one run of each group started counts all the others: the group's limit, if another node
  // set one that this node has not read yet, refuses the batch, and each run goes again alone, queued
  const guarded = new Map<string, RunRow>();
  for (const [w, s] of started) if (s.decided.run?.phase === "running") guarded.set(w.run.group, w.run);
  for (const run of guarded.values()) writes.push(groupGuard(db, run));
  let results: unknown[];
  try {
    results = await writeAll(db, writes);
  } catch (e) {
    for (const { run } of group) scheduler.leases.forget(run.id);
    if (group.length > 1) {
      // one run refused (its project deleted meanwhile) refuses none of the others: each is written alone
      for (const w of group) await writeGroup(db, scheduler, [w], start);
      return;
    }
    // alone and refused started (its group's limit reached through another node): written queued, it waits
    if (started.size > 0) return writeGroup(db, scheduler, group, false);
    return group[0]!.refused(e);
  }
  for (const [i, w] of numbered.entries()) w.run.number = (results[2 * i] as { number: number }[])[0]!.number;
  try {
    for (const w of group) {
      const active = scheduler.track(w.run, w.taskRows, w.keptAttempts);
      scheduler.onPhase(w.run);
      const s = started.get(w);
      if (!s) continue;
      applyDecisions(active, s.decided);
      await scheduler.settle(active, s.out, { applied: [], created: s.decided.created.map((c) => c.attempt), phaseChanged: s.decided.run !== null });
    }
    await scheduler.advanceRuns(group.filter((w) => !started.has(w)).map((w) => w.run.id));
  } catch (e) {
    for (const w of group) w.refused(e);
    return;
  }
  for (const w of group) w.stored(w.run);
}

/** `at` as `decide` takes it: with a fraction for the first attempts' readyAt */
function firstDecisions(waiting: Waiting, at: number): Started {
  const active: ActiveRun = {
    run: waiting.run,
    tasks: new Map(waiting.taskRows.map((t) => [t.id, t])),
    attempts: new Map(waiting.keptAttempts.map((a) => [a.id, a])),
  };
  const out = advance(engineInput(active, Math.floor(at)));
  return { waiting, active, out, decided: decide(active, out, at) };
}
