import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * Dependencies go one way. The engine is the pure core; runs and fleet know nothing of each other and
 * meet only in dispatch; the web UI and everything else reach no HTTP route module (api/); shared code
 * and the agent never reach into the coordinator. Type-only imports count too: knowing a type is knowing the module.
 */
const ROOT = resolve(import.meta.dir, "../..");

/** area → areas it must not import (an area is a top folder, or a folder under coordinator/) */
const FORBIDDEN: Record<string, (target: string) => boolean> = {
  shared: (t) => t !== "shared",
  agent: (t) => t !== "agent" && t !== "shared",
  "coordinator/engine": (t) => t !== "coordinator/engine" && t !== "shared",
  "coordinator/db": (t) => t !== "coordinator/db" && t !== "shared",
  "coordinator/runs": (t) => ["coordinator/fleet", "coordinator/dispatch", "coordinator/api", "coordinator/web"].includes(t),
  "coordinator/fleet": (t) => ["coordinator/runs", "coordinator/dispatch", "coordinator/api", "coordinator/web"].includes(t),
  "coordinator/dispatch": (t) => ["coordinator/api", "coordinator/web"].includes(t),
  "coordinator/web": (t) => t === "coordinator/api",
};
/** no coordinator module but the server's wiring reaches the HTTP routes, and none reaches the agent or the CLI */
const forbiddenEverywhere = (from: string, to: string) =>
  from.startsWith("coordinator") &&
  ((to === "coordinator/api" && from !== "coordinator/api" && from !== "coordinator/server.ts") || to === "agent" || to === "cli");

const area = (path: string) => path.split("/").slice(0, path.startsWith("coordinator/") ? 2 : 1).join("/");

function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => relative(ROOT, resolve(dirname(join(ROOT, file)), m[1]!)));
}

test("imports go one way: engine pure, runs and fleet apart, nothing but the server reaching api/", () => {
  const files = ["shared", "agent", "coordinator", "cli"].flatMap((dir) =>
    readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && /\.(ts|tsx|mjs)$/.test(e.name))
      .map((e) => relative(ROOT, join(e.parentPath, e.name))),
  );
  expect(files.length).toBeGreaterThan(100);
  const broken: string[] = [];
  for (const file of files) {
    const from = area(file);
    for (const target of imports(file)) {
      const to = area(target);
      if (to === from) continue;
      if (FORBIDDEN[from]?.(to) || forbiddenEverywhere(from, to)) broken.push(`${file} imports ${target}`);
    }
  }
  expect(broken).toEqual([]);
});
