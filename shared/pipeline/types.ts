import type { StepSpec } from "./step-spec.ts";
export const ARCHS = ["amd64", "arm64", "arm", "386"] as const;
export type Arch = (typeof ARCHS)[number];

export const CONDITIONS = ["on_success", "on_failure", "on_skipped"] as const;
export type Condition = (typeof CONDITIONS)[number];

export const TEST_REPORT_FORMATS = ["junit", "tap"] as const;
export type TestReportFormat = (typeof TEST_REPORT_FORMATS)[number];

export interface Dependency {
  task: string;
  conditions: Condition[];
}

export type { StepSpec } from "./step-spec.ts";
export type StepKind = StepSpec["kind"];

/** Which repository events start a pipeline: globs over branch names, tag names and PR target branches. */
export interface Triggers {
  push: { branches: string[]; tags: string[] };
  pullRequest: { branches: string[] };
  manual: boolean;
}

export interface CheckoutOptions {
  /** null: the full history */
  depth: number | null;
  submodules: boolean;
  /** relative to the work dir; "" for the work dir itself */
  path: string;
}

export interface TaskSpec {
  name: string;
  arch?: Arch;
  group?: string;
  labels: Record<string, string>;
  resources?: { cpu?: number; memoryBytes?: number };
  timeoutMs?: number;
  retries: number;
  env: Record<string, string>;
  depends: Dependency[];
  approval?: { minApprovers: number };
  ignoreFailure: boolean;
  /** placed only on sandbox agents */
  sandbox?: boolean;
  /** the host's network inside the sandbox */
  network?: boolean;
  /** The combination this task runs, for a task expanded from a matrix. */
  matrix?: Record<string, string>;
  /** Depth in the DAG: 0 for roots, else 1 + the deepest parent's level. */
  level: number;
  steps: StepSpec[];
  /** repository runs: skipped unless a changed file matches one of these globs */
  changed?: string[];
  /** repository runs: set when the pipeline or the task says how to check out (or not to) */
  checkout?: CheckoutOptions | false;
}

export interface Pipeline {
  env: Record<string, string>;
  cacheGroup?: string;
  /** absent: the default triggers (pushes to any branch, manual runs) */
  on?: Triggers;
  /** Sorted by (level, name). */
  tasks: TaskSpec[];
}

export type ParseResult = { ok: true; pipeline: Pipeline } | { ok: false; errors: string[] };

export function isArch(value: string): value is Arch {
  return (ARCHS as readonly string[]).includes(value);
}
