const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

/** `90s`, `20m`, `1h30m`, `500ms`, `1d`, `2w` → milliseconds; null when not a duration. */
export function durationToMs(s: string): number | null {
  const text = s.trim();
  if (!DURATION.test(text)) return null;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) ms += Number(amount) * DURATION_UNITS[unit!]!;
  return Math.round(ms);
}

/** The longest a timer waits (2^31 - 1 ms, 24.8 days): given more, it fires at once. Time settings stay within it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Milliseconds as a plain whole number, or a duration like `15s` (durationToMs): how settings give a time; null otherwise. */
export function settingToMs(text: string): number | null {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : durationToMs(trimmed);
}

// Units are binary (4G = 4 GiB), as in Docker's --memory; `Gi`/`GB`/`GiB` spellings mean the same.
const SIZE_UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const SIZE = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])i?)?B?$/i;

/** A byte count or a size like `512M`, `4G` → bytes; null unless a positive whole number of bytes. */
export function memoryToBytes(value: string | number): number | null {
  const bytes = typeof value === "number" ? value : sizeToBytes(value);
  return bytes !== null && Number.isSafeInteger(bytes) && bytes > 0 ? bytes : null;
}

function sizeToBytes(text: string): number | null {
  const match = SIZE.exec(text.trim());
  return match ? Math.round(Number(match[1]) * SIZE_UNITS[(match[2] ?? "").toUpperCase()]!) : null;
}
