import { formatBytes } from "../../shared/format.ts";
import { UsageError } from "../args.ts";

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since 7d` (an age: s, m, h, d or w) or an absolute date such as 2025-01-31, as epoch ms. */
export function parseSince(value: string): number {
  const age = value.match(/^(\d+)([smhdw])$/);
  if (age) return Date.now() - Number(age[1]) * UNIT_MS[age[2]!]!;
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw new UsageError(`--since wants an age like 7d or 12h, or a date; got "${value}"`);
  return at;
}

export function bytes(n: number | null): string {
  return n === null ? "-" : formatBytes(n);
}

export function age(ms: number): string {
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86_400)}d ago`;
}

// Sweden's locale writes the local time as "2025-01-31 14:05:00", which sorts and reads well.
export const when = (ms: number) => new Date(ms).toLocaleString("sv-SE");

export const noExtra = (extra: string[]) => {
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
};

export const printJson = (value: unknown) => console.log(JSON.stringify(value, null, 2));
