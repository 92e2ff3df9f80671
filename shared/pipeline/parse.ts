import { LineCounter, parseDocument } from "yaml";
import { byName, checkGraph, levels } from "./dag.ts";
import { type Located, locate, type Problem, render, zodProblems } from "./errors.ts";
import { checkMatrix, matrixEnv, type Variant, variants } from "./matrix.ts";
import { quickRead } from "./quick-yaml.ts";
import { formatBytes, formatCount, LIMITS } from "./limits.ts";
import { type DeclaredCheckout, type DeclaredTask, pipelineSchema, resolveCheckout, taskSchema } from "./schema.ts";
import { type Dependency, isArch, type ParseResult, type TaskSpec } from "./types.ts";

/**
 * Results of recent parses by file and text: a project's runs, a schedule's ticks and retried submissions
 * bring the same text again and again, and parsing it (YAML with positions, then the schemas) took 0.4-0.6 ms
 * of the coordinator's event loop for a three-task pipeline, most of a submission's own cost. Each caller gets
 * a copy (a structured clone costs a tenth of the parse), so none can change what the next one is given.
 */
const recent = new Map<string, ParseResult>();
const RECENT_PARSES = 64;
/** larger texts are parsed each time: the cache stays a few MiB at most */
const LONGEST_CACHED_TEXT = 64 * 1024;

/** Parses and checks `.drover.yml` text; errors are `file:line:column: message`, all of them, in source order. */
export function parsePipeline(text: string, file = ".drover.yml"): ParseResult {
  if (text.length > LONGEST_CACHED_TEXT) return parseText(text, file);
  const key = `${file}\0${text}`;
  let result = recent.get(key);
  if (result) recent.delete(key);
  else result = parseText(text, file);
  // most recently used last, so the first key is the one to drop
  recent.set(key, result);
  if (recent.size > RECENT_PARSES) recent.delete(recent.keys().next().value!);
  return structuredClone(result);
}

function parseText(text: string, file: string): ParseResult {
  if (pipelineTooLarge(text)) return { ok: false, errors: [tooLarge(text, file)] };
  const quick = quickRead(text);
  if (quick) {
    const checked = check(quick.value);
    // a pipeline with problems is read again with positions, to say where each one is
    if (checked.valid) return built(checked.valid);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true });
  const fail = (located: Located[]): ParseResult => ({ ok: false, errors: render(file, lineCounter, located) });
  if (doc.errors.length > 0) return fail(doc.errors.map((error) => ({ offset: error.pos[0], message: error.message })));

  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (error) {
    // toJS refuses documents whose aliases expand too far ("billion laughs").
    return fail([{ offset: 0, message: error instanceof Error ? error.message : String(error) }]);
  }
  const checked = check(raw);
  return checked.valid ? built(checked.valid) : fail(checked.problems.map((problem) => locate(doc, problem)));
}

interface Valid {
  head: PipelineHead;
  declared: Map<string, DeclaredTask>;
  graph: Map<string, Dependency[]>;
}

type PipelineHead = ReturnType<typeof pipelineSchema.parse>;

/** The pipeline's schemas, matrices and graph checked on the YAML's value: what is valid, or every problem. */
function check(raw: unknown): { valid: Valid; problems?: never } | { valid?: never; problems: Problem[] } {
  const problems: Problem[] = [];
  const head = pipelineSchema.safeParse(raw, { reportInput: true });
  if (!head.success) problems.push(...zodProblems(head.error.issues));
  const bodies = isRecord(raw) && isRecord(raw.tasks) ? raw.tasks : {};
  // past the bound before any matrix is expanded: refused without checking thousands of task bodies
  const count = Object.keys(bodies).length;
  if (count > LIMITS.tasks) return { problems: [tooManyTasks(count)] };
  const declared = new Map<string, DeclaredTask>();
  const graph = new Map<string, Dependency[]>();
  for (const [name, body] of Object.entries(bodies)) {
    const prefix = ["tasks", name];
    const task = taskSchema.safeParse(body, { reportInput: true });
    if (task.success) {
      declared.set(name, task.data);
      graph.set(name, task.data.depends);
      problems.push(...checkMatrix(task.data).map((problem) => ({ ...problem, path: [...prefix, ...problem.path] })));
      continue;
    }
    problems.push(...zodProblems(task.error.issues, prefix));
    // A task broken elsewhere still has its dependencies checked, when they are well formed.
    const depends = taskSchema.shape.depends.safeParse(isRecord(body) ? body.depends : undefined);
    if (depends.success) graph.set(name, depends.data);
  }
  problems.push(...checkGraph(graph, new Set(Object.keys(bodies))));
  const expanded = [...declared.values()].reduce((sum, task) => sum + combinations(task), 0);
  if (expanded > LIMITS.tasks) problems.push(tooManyTasks(expanded));
  if (!head.success || problems.length > 0) return { problems };
  return { valid: { head: head.data, declared, graph } };
}

function built({ head, declared, graph }: Valid): ParseResult {
  const tasks = expand(declared, levels(graph), head.checkout);
  const pipeline = { env: head.env, cacheGroup: head.cache_group, on: head.on, tasks };
  return { ok: true, pipeline: compact(pipeline) };
}

/** The text's size is checked before the YAML is parsed, so a huge file costs no more than its bytes. */
export const pipelineTooLarge = (text: string) =>
  text.length > LIMITS.pipelineBytes || Buffer.byteLength(text) > LIMITS.pipelineBytes;

export function tooLarge(text: string, file: string): string {
  const bytes = Buffer.byteLength(text);
  return `${file}: the pipeline is ${formatCount(bytes)} bytes: at most ${formatBytes(LIMITS.pipelineBytes)} (${formatCount(LIMITS.pipelineBytes)} bytes) allowed`;
}

const tooManyTasks = (count: number): Problem => ({
  path: ["tasks"],
  message: `${formatCount(count)} tasks after matrix expansion: a pipeline may have at most ${formatCount(LIMITS.tasks)}`,
  at: "key",
});

const combinations = (task: DeclaredTask) =>
  Object.values(task.matrix ?? {}).reduce((product, values) => product * values.length, 1);

/** Matrix tasks become one task per combination; a dependency on one depends on all of them. */
function expand(
  declared: ReadonlyMap<string, DeclaredTask>,
  level: ReadonlyMap<string, number>,
  checkout: DeclaredCheckout | undefined,
): TaskSpec[] {
  const variantsOf = new Map([...declared].map(([name, task]) => [name, variants(name, task.matrix)]));
  const tasks = [...declared].flatMap(([name, task]) => {
    const depends = task.depends
      .flatMap(({ task: parent, conditions }) => variantsOf.get(parent)!.map((v): Dependency => ({ task: v.name, conditions })))
      .sort((a, b) => byName(a.task, b.task));
    return variantsOf.get(name)!.map((variant) => toSpec(task, variant, level.get(name)!, depends, checkout));
  });
  return tasks.sort((a, b) => a.level - b.level || byName(a.name, b.name));
}

function toSpec(
  task: DeclaredTask,
  { name, matrix }: Variant,
  level: number,
  depends: Dependency[],
  checkout: DeclaredCheckout | undefined,
): TaskSpec {
  const matrixArch = matrix?.arch;
  return compact({
    name,
    arch: matrixArch !== undefined && isArch(matrixArch) ? matrixArch : task.arch,
    group: task.group,
    labels: task.labels,
    resources: task.resources,
    timeoutMs: task.timeout,
    retries: task.retries,
    env: matrix ? { ...task.env, ...matrixEnv(matrix) } : task.env,
    depends,
    approval: task.approval,
    ignoreFailure: task.ignore_failure,
    sandbox: task.sandbox,
    network: task.network,
    matrix,
    level,
    steps: task.steps,
    changed: task.changed,
    checkout: checkout === undefined && task.checkout === undefined ? undefined : resolveCheckout(checkout, task.checkout),
  });
}

/** Drops keys whose value is undefined, so that absent options stay absent in the output. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
