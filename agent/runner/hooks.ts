import { accessSync, constants, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { StepProcess, StepProcessResult } from "../executor/step-process.ts";

/** The agent hooks (`--hooks-dir`), in the order they run around a task; Buildkite's agent hooks are the model. */
export const HOOK_NAMES = ["environment", "pre-checkout", "post-checkout", "pre-task", "post-task"] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** Variables bash sets by itself: not exports of the `environment` hook. */
const BASH_OWN = new Set(["PWD", "OLDPWD", "SHLVL", "_"]);

export interface HookOutcome {
  /** the hook's output under a header, for the task's log */
  output: Buffer;
  /** "hook NAME failed (…)" when it did; the task then fails with it */
  error: string | null;
  /** what the `environment` hook exported, to add to every step's environment */
  exported: Record<string, string>;
}

/** How the runner starts a hook: the same executor as its steps, output to `outputPath`. */
export type StartHook = (name: string, command: string, env: Record<string, string>, outputPath: string) => StepProcess;

/**
 * The hooks present in the hooks dir. Each is a bash script the executor runs like a step (same user, same
 * sandbox, same environment), sourced so that it needs no execute bit; `environment` is sourced too, and what
 * it exports (new or changed variables) goes into the task's environment.
 */
export class Hooks {
  constructor(private readonly dir: string | null) {}

  path(name: HookName): string | null {
    if (!this.dir) return null;
    const path = join(this.dir, name);
    try {
      accessSync(path, constants.R_OK);
      return path;
    } catch {
      return null;
    }
  }

  async run(
    name: HookName,
    env: Record<string, string>,
    workDir: string,
    spool: string,
    start: StartHook,
  ): Promise<(HookOutcome & { usage: StepProcessResult }) | null> {
    const path = this.path(name);
    if (!path) return null;
    const envFile = join(workDir, `.drover-hook-${name}.env`);
    const quoted = `'${path.replaceAll("'", `'\\''`)}'`;
    const command = name === "environment" ? `. ${quoted}\nenv -0 > '${envFile}'` : `. ${quoted}`;
    const usage = await start(`hook-${name}`, command, env, spool).wait();
    const body = readFileSync(spool);
    rmSync(spool, { force: true });
    const failed = usage.error ?? (usage.signal ? `killed by ${usage.signal}` : usage.exitCode !== 0 ? `exit ${usage.exitCode}` : null);
    const error = failed ? `hook ${name} failed (${failed})` : null;
    const exported: Record<string, string> = {};
    if (name === "environment") {
      try {
        for (const entry of readFileSync(envFile, "utf8").split("\0")) {
          const eq = entry.indexOf("=");
          const [key, value] = [entry.slice(0, eq), entry.slice(eq + 1)];
          if (eq > 0 && !BASH_OWN.has(key) && env[key] !== value) exported[key] = value;
        }
      } catch {
        // the hook failed before it got there
      }
      rmSync(envFile, { force: true });
    }
    const tail = body.length && body[body.length - 1] !== 0x0a ? "\n" : "";
    const output = Buffer.concat([
      Buffer.from(`--- hook ${name}\n`),
      body,
      Buffer.from(tail + (error ? `--- ${error}\n` : "")),
    ]);
    return { output, error, exported, usage };
  }
}
