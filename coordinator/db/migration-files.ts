import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The committed migrations as { relative path: text }. Imported as a Bun macro, so it
 * runs when the code is bundled and the files travel inside a compiled binary too.
 */
export function migrationFiles(): Record<string, string> {
  const root = join(import.meta.dir, "migrations");
  const files: Record<string, string> = { "meta/_journal.json": readFileSync(join(root, "meta/_journal.json"), "utf8") };
  for (const name of readdirSync(root)) if (name.endsWith(".sql")) files[name] = readFileSync(join(root, name), "utf8");
  return files;
}
