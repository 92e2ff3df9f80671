import { z } from "zod";
import { ARCHS, type CheckoutOptions, CONDITIONS, type Dependency, type StepKind, type StepSpec, TEST_REPORT_FORMATS, type Triggers } from "./types.ts";
import { formatCount, LIMITS } from "./limits.ts";
import { durationToMs, memoryToBytes } from "./units.ts";

// Matrix task names are built as `name[key=value,…]`, so declared names keep clear of those characters.
const name = z.string().max(LIMITS.nameLength, `a name may be at most ${LIMITS.nameLength} characters`);

export const taskName = name
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, "a task name may only hold letters, digits, '_', '.' and '-'");

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name must match [A-Za-z_][A-Za-z0-9_]*");

// YAML turns `CI: true` or `PORT: 8080` into a boolean or a number; the environment wants the string.
const scalarString = z
  .union([z.string(), z.number(), z.boolean()], { error: "expected a string, number or boolean" })
  .transform(String);

export const envSchema = z.record(envName, scalarString);

const nonEmpty = z.string().min(1, "must not be empty");

const relativePath = nonEmpty.refine(
  (path) => !path.startsWith("/") && !path.split("/").includes(".."),
  "must be a path inside the work dir (not absolute, no '..')",
);

const paths = z.array(relativePath).min(1, "needs at least one path");

const command = z.string().refine((text) => text.trim() !== "", "the command must not be empty");

const runSchema = z
  .union([command, z.strictObject({ name: nonEmpty.optional(), command, env: envSchema.optional() })], {
    error: "expected a command, or {command, name?, env?}",
  })
  .transform((run) => (typeof run === "string" ? runStep(run) : runStep(run.command, run.name, run.env)));

function runStep(command: string, name = defaultStepName(command), env: Record<string, string> = {}): StepSpec {
  return { kind: "run", name, command, env };
}

function defaultStepName(command: string): string {
  const firstLine = command.split("\n").find((line) => line.trim() !== "") ?? "";
  return firstLine.trim().slice(0, 60);
}

export const STEP_KINDS = [
  "run",
  "save_to_workspace",
  "restore_workspace",
  "save_cache",
  "restore_cache",
  "save_artifact",
  "test_results",
] as const satisfies readonly StepKind[];

const restoreWorkspace = z
  .strictObject({ dest: relativePath.optional() })
  .nullable()
  .transform((value) => value ?? {});

const rawStep = z.strictObject({
  run: runSchema.optional(),
  save_to_workspace: z.strictObject({ paths }).optional(),
  restore_workspace: restoreWorkspace.optional(),
  save_cache: z.strictObject({ key: nonEmpty, paths }).optional(),
  restore_cache: z.strictObject({ keys: z.array(nonEmpty).min(1, "needs at least one key"), dest: relativePath.optional() }).optional(),
  save_artifact: z.strictObject({ paths }).optional(),
  test_results: z.strictObject({ paths, format: z.enum(TEST_REPORT_FORMATS).default("junit") }).optional(),
}, { error: (issue) => (issue.code === "invalid_type" ? "expected a step, e.g. { run: make }" : undefined) });

function toStep(step: z.output<typeof rawStep>): StepSpec {
  if (step.run) return step.run;
  if (step.save_to_workspace) return { kind: "save_to_workspace", name: "save_to_workspace", ...step.save_to_workspace };
  if (step.restore_workspace) return { kind: "restore_workspace", name: "restore_workspace", ...step.restore_workspace };
  if (step.save_cache) return { kind: "save_cache", name: "save_cache", ...step.save_cache };
  if (step.restore_cache) return { kind: "restore_cache", name: "restore_cache", ...step.restore_cache };
  if (step.test_results) return { kind: "test_results", name: "test_results", ...step.test_results };
  return { kind: "save_artifact", name: "save_artifact", ...step.save_artifact! };
}

export const stepSchema = rawStep.transform((step, ctx): StepSpec => {
  const kinds = STEP_KINDS.filter((kind) => step[kind] !== undefined);
  if (kinds.length !== 1) {
    ctx.addIssue({
      code: "custom",
      message:
        kinds.length === 0
          ? `a step needs one of ${STEP_KINDS.join(", ")}`
          : `a step has exactly one kind, got ${kinds.join(" and ")}`,
    });
    return z.NEVER;
  }
  return toStep(step);
});

const onSuccess = (task: string): Dependency => ({ task, conditions: ["on_success"] });

const dependsSchema = z.union(
  [
    z.array(taskName).transform((names) => [...new Set(names)].map(onSuccess)),
    z
      .record(taskName, z.array(z.enum(CONDITIONS)).min(1, "needs at least one condition").nullish())
      .transform((map) =>
        Object.entries(map).map(([task, conditions]): Dependency =>
          conditions ? { task, conditions: [...new Set(conditions)] } : onSuccess(task),
        ),
      ),
  ],
  { error: "expected a list of task names, or a map of task name to conditions" },
);

const durationMessage = "expected a duration like 90s, 20m or 1h30m";
const duration = z.string({ error: durationMessage }).transform((text, ctx) => {
  const ms = durationToMs(text);
  if (ms === null || ms <= 0) {
    ctx.addIssue({ code: "custom", message: durationMessage });
    return z.NEVER;
  }
  return ms;
});

const memoryMessage = "expected a number of bytes or a size like 512M or 4G";
const memory = z.union([z.number(), z.string()], { error: memoryMessage }).transform((value, ctx) => {
  const bytes = memoryToBytes(value);
  if (bytes === null) {
    ctx.addIssue({ code: "custom", message: memoryMessage });
    return z.NEVER;
  }
  return bytes;
});

const resources = z
  .strictObject({ cpu: z.number().positive().optional(), memory: memory.optional() })
  .transform(({ memory, ...rest }) => (memory === undefined ? rest : { ...rest, memoryBytes: memory }));

// Matrix values end up in task names `name[key=value,…]`, so they keep clear of the separators.
const matrixValue = z
  .union([z.string(), z.number()], { error: "expected a string or a number" })
  .transform(String)
  .pipe(z.string().regex(/^[^[\],=]+$/, "a matrix value must be non-empty and hold none of '[', ']', ',', '='"));

const matrixKey = name
  .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, "a matrix key must match [A-Za-z_][A-Za-z0-9_-]*");

const globs = z
  .union([nonEmpty.transform((glob) => [glob]), z.array(nonEmpty).min(1, "needs at least one pattern")], {
    error: "expected a glob or a list of globs",
  });

const ANY = ["**"];

/** `push: true` (or an empty map) takes every branch and tag; a map with only `branches` or only `tags` takes only those. */
const pushTrigger = z
  .union([z.boolean(), z.strictObject({ branches: globs.optional(), tags: globs.optional() }).nullable()], {
    error: "expected true, false, or { branches?, tags? }",
  })
  .transform((push) => {
    if (push === false) return { branches: [], tags: [] };
    if (push === true || push === null || (!push.branches && !push.tags)) return { branches: ANY, tags: ANY };
    return { branches: push.branches ?? [], tags: push.tags ?? [] };
  });

const pullRequestTrigger = z
  .union([z.boolean(), z.strictObject({ branches: globs.optional() }).nullable()], {
    error: "expected true, false, or { branches? } (target branches)",
  })
  .transform((pr) => ({ branches: pr === false ? [] : pr === true || pr === null ? ANY : (pr.branches ?? ANY) }));

/** Events a pipeline does not list do not start it, except manual runs, which a person asked for. */
export const onSchema = z
  .strictObject({ push: pushTrigger.optional(), pull_request: pullRequestTrigger.optional(), manual: z.boolean().default(true) })
  .transform(
    (on): Triggers => ({
      push: on.push ?? { branches: [], tags: [] },
      pullRequest: on.pull_request ?? { branches: [] },
      manual: on.manual,
    }),
  );

/** Without `on:`, pushes to any branch and manual runs start the pipeline; tags and pull requests do not. */
export const DEFAULT_TRIGGERS: Triggers = { push: { branches: ANY, tags: [] }, pullRequest: { branches: [] }, manual: true };

/** `checkout: false` turns the checkout off; `.` or an absent path is the work dir itself. */
export const checkoutSchema = z.union(
  [
    z.literal(false),
    z.literal(true).transform(() => ({})),
    z.strictObject({
      depth: z.number().int().min(1, "depth is at least 1").nullable().optional(),
      submodules: z.boolean().optional(),
      path: z
        .string()
        .refine((path) => !path.startsWith("/") && !path.split("/").includes(".."), "must be a path inside the work dir (not absolute, no '..')")
        .transform((path) => path.replace(/^\.\/?|\/+$/g, ""))
        .optional(),
    }),
  ],
  { error: "expected false, or { depth?, submodules?, path? }" },
);
export type DeclaredCheckout = z.output<typeof checkoutSchema>;

/** A task's checkout: its own options over the pipeline's, over full history, no submodules, in the work dir. */
export function resolveCheckout(pipeline: DeclaredCheckout | undefined, task: DeclaredCheckout | undefined): CheckoutOptions | false {
  if (task === false || (task === undefined && pipeline === false)) return false;
  const merged = { ...(pipeline || {}), ...task };
  return { depth: merged.depth ?? null, submodules: merged.submodules ?? false, path: merged.path ?? "" };
}

export const taskSchema = z.strictObject({
  arch: z.enum(ARCHS).optional(),
  group: nonEmpty.optional(),
  labels: z
    .record(nonEmpty.pipe(name), scalarString.pipe(z.string().max(LIMITS.labelBytes, `a label may be at most ${LIMITS.labelBytes} characters`)))
    .refine((labels) => Object.keys(labels).length <= LIMITS.labels, `at most ${LIMITS.labels} labels`)
    .default({}),
  resources: resources.optional(),
  timeout: duration.refine((ms) => ms <= LIMITS.timeoutMs, "a timeout may be at most 7d").optional(),
  retries: z.number().int().min(0).max(LIMITS.retries, `at most ${LIMITS.retries} retries`).default(0),
  env: envSchema.default({}),
  depends: dependsSchema.default([]),
  // `approval: true` is the common case: one approver.
  approval: z
    .union([z.boolean(), z.strictObject({ min_approvers: z.number().int().min(1) })], {
      error: "expected true, false or { min_approvers: N }",
    })
    .transform((approval) =>
      approval === false ? undefined : { minApprovers: approval === true ? 1 : approval.min_approvers },
    )
    .optional(),
  ignore_failure: z.boolean().default(false),
  /** run only on an agent with the sandbox executor (bubblewrap) */
  sandbox: z.boolean().optional(),
  /** in the sandbox: the host's network (without it, none) */
  network: z.boolean().optional(),
  matrix: z.record(matrixKey, z.array(matrixValue).min(1, "needs at least one value")).optional(),
  steps: z
    .array(stepSchema)
    .min(1, "a task needs at least one step")
    .max(LIMITS.stepsPerTask, `a task may have at most ${formatCount(LIMITS.stepsPerTask)} steps`),
  /** repository runs: the task is skipped unless the push or pull request changed a file matching one of these */
  changed: globs.optional(),
  checkout: checkoutSchema.optional(),
});

export type DeclaredTask = z.output<typeof taskSchema>;

// Task bodies are left to taskSchema, one task at a time, so that a broken task does not hide
// the dependency checks over the others.
export const pipelineSchema = z.strictObject({
  env: envSchema.default({}),
  tasks: z.record(taskName, z.unknown()).refine((tasks) => Object.keys(tasks).length > 0, "needs at least one task"),
  cache_group: nonEmpty.optional(),
  on: onSchema.optional(),
  checkout: checkoutSchema.optional(),
});
