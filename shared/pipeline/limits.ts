/**
 * Bounds on what a run may hold (see docs/pipeline.md, "Limits"). Each is checked where the input
 * arrives and refused with a message that names it, so that no input can take the coordinator's
 * memory or the database's bound parameters with it.
 */
export const LIMITS = {
  /** the .drover.yml text */
  pipelineBytes: 1024 * 1024,
  /** tasks of one run, after matrix expansion */
  tasks: 1000,
  stepsPerTask: 200,
  /** a run's variables */
  variables: 200,
  variableBytes: 64 * 1024,
  /** a task's labels */
  labels: 64,
  labelBytes: 512,
  /** task, matrix key, variable, label and group names */
  nameLength: 128,
  /** a task's `timeout`: a week (past 24.8 days a timer would not even hold it) */
  timeoutMs: 7 * 24 * 3600 * 1000,
  /** a task's `retries` */
  retries: 10,
} as const;

/** 1000 → "1,000", 1048576 → "1 MiB": how the bounds read in messages. */
export const formatCount = (n: number) => n.toLocaleString("en-US");
export const formatBytes = (n: number) =>
  n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${formatCount(n)} bytes`;
