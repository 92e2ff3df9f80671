import { parseArgs } from "node:util";

export type FlagSpec = Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }>;

export class UsageError extends Error {}

/** Parses a verb's flags; unknown flags are a usage error, not silently ignored. */
export function parseFlags<T extends FlagSpec>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
