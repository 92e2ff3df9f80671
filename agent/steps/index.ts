import type { AssignedStep, Assignment } from "../../shared/protocol/index.ts";
import type { KeptWorkspaces } from "../archive/kept.ts";
import { type FilesClient, isTransient } from "../connection/files-client.ts";
import { Redactor, secretValues } from "../logs/redactor.ts";
import type { StepContext } from "./common.ts";
import { restoreCache } from "./restore-cache.ts";
import { restoreWorkspace } from "./restore-workspace.ts";
import { saveArtifact } from "./save-artifact.ts";
import { saveCache } from "./save-cache.ts";
import { saveToWorkspace } from "./save-to-workspace.ts";
import { testResults } from "./test-results.ts";

export type ArchiveStep = Exclude<AssignedStep, { kind: "run" }>;

export interface StepResult {
  exitCode: number | null;
  error: string | null;
  /** the failure was the infrastructure's (storage or coordinator unreachable): the attempt is retried */
  infrastructure: boolean;
}

export interface ArchiveStepInput {
  assignment: Assignment;
  index: number;
  dir: string;
  /** the environment a run step would see: `{{ env "NAME" }}` and redaction use it */
  env: Record<string, string>;
  log: { write(data: Uint8Array): void };
  /** the attempt's client, whose requests `signal` aborts: archive steps have no process to signal */
  files: FilesClient;
  kept: KeptWorkspaces;
  /** aborted when the attempt stops, with an Error saying why ("cancelled", "timeout") as its reason */
  signal: AbortSignal;
}

function run(step: ArchiveStep, ctx: StepContext): Promise<void> {
  switch (step.kind) {
    case "save_to_workspace":
      return saveToWorkspace(step, ctx);
    case "restore_workspace":
      return restoreWorkspace(step, ctx);
    case "save_cache":
      return saveCache(step, ctx);
    case "restore_cache":
      return restoreCache(step, ctx);
    case "save_artifact":
      return saveArtifact(step, ctx);
    case "test_results":
      return testResults(step, ctx);
  }
}

/** Runs a workspace, cache or artifact step; a failure is exit code 1 with its reason in the log and the result. */
export async function runArchiveStep(step: ArchiveStep, input: ArchiveStepInput): Promise<StepResult> {
  const { assignment, signal } = input;
  const secrets = secretValues(input.env, assignment.secrets);
  const redactor = new Redactor(secrets);
  const log = (line: string) => input.log.write(redactor.push(Buffer.from(`${line}\n`)));
  const ctx: StepContext = {
    dir: input.dir,
    step: input.index,
    keys: { dir: input.dir, arch: assignment.arch, env: input.env },
    files: input.files,
    kept: input.kept,
    log,
  };
  try {
    await run(step, ctx);
    return { exitCode: 0, error: null, infrastructure: false };
  } catch (e) {
    const error = signal.aborted ? (signal.reason as Error).message : (e as Error).message;
    log(`error: ${error}`);
    return { exitCode: 1, error: redactText(error, secrets), infrastructure: !signal.aborted && isTransient(e) };
  } finally {
    input.log.write(redactor.flush());
  }
}

function redactText(text: string, secrets: string[]): string {
  const r = new Redactor(secrets);
  return Buffer.concat([r.push(Buffer.from(text)), r.flush()]).toString();
}
