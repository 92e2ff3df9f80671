import { formatBytes } from "../shared/format.ts";
import { EnvSettings } from "./config.ts";

const UNITS: [number, string][] = [
  [86_400_000, "d"],
  [3_600_000, "h"],
  [60_000, "m"],
  [1000, "s"],
  [1, "ms"],
];

/** 90000 → `1m30s`, the form the settings accept back. */
function durationText(ms: number): string {
  let rest = ms;
  let text = "";
  for (const [size, unit] of UNITS) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text || "0s";
}

function defaultText(name: string, value: unknown): string {
  if (value === undefined) return "";
  if (typeof value === "number" && name.endsWith("_MS")) return `\`${durationText(value)}\``;
  if (typeof value === "number" && name.endsWith("_BYTES")) return `\`${formatBytes(value)}\``;
  return `\`${String(value)}\``;
}

/** The coordinator's settings as a Markdown table, from the schema that checks them at start. */
export function configTable(): string {
  const defaults = EnvSettings.parse({}) as Record<string, unknown>;
  const rows = Object.entries(EnvSettings.shape).map(([name, schema]) => {
    const description = schema.meta()?.description ?? "";
    return `| \`${name}\` | ${defaultText(name, defaults[name])} | ${description} |`;
  });
  return ["| variable | default | what it does |", "| --- | --- | --- |", ...rows].join("\n");
}

// `bun coordinator/config-table.ts --write` puts the table into docs/operations.md
if (import.meta.main) {
  const path = new URL("../docs/operations.md", import.meta.url).pathname;
  const doc = await Bun.file(path).text();
  const updated = doc.replace(/<!-- config-table -->[\s\S]*?<!-- \/config-table -->|<!-- config-table -->/, `<!-- config-table -->\n${configTable()}\n<!-- /config-table -->`);
  if (process.argv.includes("--write")) await Bun.write(path, updated);
  else console.log(configTable());
}
