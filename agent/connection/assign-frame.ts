import type { Assignment } from "../../shared/protocol/index.ts";

/**
 * The assignment of a task of `run` steps, as the coordinator sends it (every field given, no checkout), checked by
 * hand instead of with zod: the schema's parse of one cost the agent 0.10-0.15 ms at the median as it took it (its code
 * gone cold in the milliseconds between two assignments; 0.01 ms in a tight loop), on the way from the task ready to
 * its step running. Anything else, or a frame this refuses, goes through the schema (shared/protocol/coordinator-messages.ts), which
 * says what is wrong; what this takes, the schema takes alike (test/unit/assign-frame.test.ts).
 */
export interface AssignFrame {
  type: "assign";
  assignment: Assignment;
}

type Fields = Record<string, unknown>;
const isObject = (v: unknown): v is Fields => typeof v === "object" && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === "string";
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isStringRecord = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every(isString);

/** A copy of a run step with only its fields, as the schema gives it; null for any other step. */
function runStep(s: unknown): Assignment["steps"][number] | null {
  if (!isObject(s) || s.kind !== "run" || !isString(s.name) || !isString(s.command) || !isStringRecord(s.env)) return null;
  return { kind: "run", name: s.name, command: s.command, env: { ...s.env } };
}

/** The frame, as the schema would give it, if it is an assignment of run steps well formed; null otherwise. */
export function readAssignFrame(raw: unknown): AssignFrame | null {
  if (!isObject(raw) || raw.type !== "assign" || !isObject(raw.assignment)) return null;
  const a = raw.assignment;
  if (
    !isString(a.attempt) ||
    !isString(a.run) ||
    !isString(a.task) ||
    !isInt(a.number) ||
    a.number < 1 ||
    !isString(a.arch) ||
    !isStringRecord(a.env) ||
    !(a.workspace === null || isString(a.workspace)) ||
    !(a.timeoutMs === null || isInt(a.timeoutMs)) ||
    !isStrings(a.secrets) ||
    !Array.isArray(a.steps) ||
    typeof a.sandbox !== "boolean" ||
    typeof a.network !== "boolean" ||
    !(a.memoryBytes === null || isInt(a.memoryBytes)) ||
    a.checkout !== null
  )
    return null;
  const steps: Assignment["steps"] = [];
  for (const s of a.steps) {
    const step = runStep(s);
    if (!step) return null;
    steps.push(step);
  }
  return {
    type: "assign",
    assignment: {
      attempt: a.attempt,
      run: a.run,
      task: a.task,
      number: a.number,
      arch: a.arch,
      env: { ...a.env },
      workspace: a.workspace,
      timeoutMs: a.timeoutMs,
      secrets: [...a.secrets],
      steps,
      sandbox: a.sandbox,
      network: a.network,
      memoryBytes: a.memoryBytes,
      checkout: null,
    },
  };
}
