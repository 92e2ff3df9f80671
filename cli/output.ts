import { formatBytes } from "../shared/format.ts";

export { runLabel } from "../shared/format.ts";

const COLOURS = { red: 31, green: 32, yellow: 33, dim: 2 } as const;
export type Colour = keyof typeof COLOURS;

/** Colour only for a person at a terminal: a pipe or a file gets plain text. */
export function paint(text: string, colour: Colour): string {
  if (!process.stdout.isTTY || process.env.NO_COLOR) return text;
  return `\x1b[${COLOURS[colour]}m${text}\x1b[0m`;
}

export function statusColour(status: string): Colour {
  if (status === "success") return "green";
  if (status === "failed" || status === "error") return "red";
  return "yellow";
}

export function duration(startedAt: number | null, endedAt: number | null): string {
  if (startedAt === null) return "-";
  const seconds = ((endedAt ?? Date.now()) - startedAt) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
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

export const printJson = (value: unknown) => console.log(JSON.stringify(value, null, 2));

/** Left-aligned columns; `style` decorates a cell after padding, so colour codes do not skew the widths. */
export function table(header: string[], rows: string[][], style: (cell: string, row: number, col: number) => string = (c) => c): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[], row: number) =>
    cells
      .map((c, col) => (row < 0 ? c : style(c, row, col)) + " ".repeat(widths[col]! - c.length))
      .join("  ")
      .trimEnd();
  return [line(header, -1), ...rows.map(line)].join("\n");
}

/**
 * Writes a byte stream as whole lines, each with `prefix`. Several tasks write to
 * stdout at once; a line is only written once complete, so lines never interleave.
 */
export function prefixedLines(prefix: string) {
  const write = (text: string) => process.stdout.write(text);
  const decoder = new TextDecoder();
  let partial = "";
  return {
    push(chunk: Uint8Array) {
      const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
      partial = lines.pop()!;
      if (lines.length) write(lines.map((l) => `${prefix}${l}\n`).join(""));
    },
    end() {
      partial += decoder.decode();
      if (partial) write(`${prefix}${partial}\n`);
      partial = "";
    },
  };
}
