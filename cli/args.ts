import { parseArgs } from "node:util";
import { durationToMs } from "../shared/pipeline/units.ts";

export type FlagSpec = Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }>;

export class UsageError extends Error {}
/** A failure the command has put in words (a coordinator that cannot start with the settings given): said without a stack. */
export class CommandError extends Error {}

/** Parses a verb's flags; unknown flags are a usage error, not silently ignored. */
export function parseFlags<T extends FlagSpec>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export const noExtra = (extra: string[]) => {
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
};

/** `--since 7d` (an age such as 12h, 2w or 1h30m) or an absolute date such as 2025-01-31, as epoch ms. */
export function parseSince(value: string): number {
  const age = durationToMs(value);
  if (age !== null) return Date.now() - age;
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw new UsageError(`--since wants an age like 7d or 12h, or a date; got "${value}"`);
  return at;
}
