import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { EnvSettings } from "../../coordinator/config.ts";
import { configTable } from "../../coordinator/config-table.ts";
import { pipelineJsonSchema } from "../../shared/pipeline/json-schema.ts";

const ROOT = resolve(import.meta.dir, "../..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

/** Every property name anywhere in a JSON Schema. */
function propertyNames(schema: unknown): Set<string> {
  const names = new Set<string>();
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== "object" || node === null) return;
    const properties = (node as { properties?: Record<string, unknown> }).properties;
    for (const name of Object.keys(properties ?? {})) names.add(name);
    Object.values(node).forEach(visit);
  };
  visit(schema);
  return names;
}

const files = (dir: string): string[] =>
  readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));

describe("the documentation in the repo", () => {
  test("docs/pipeline.md names every key of the pipeline's JSON Schema", () => {
    const doc = read("docs/pipeline.md");
    const names = [...propertyNames(pipelineJsonSchema)];
    expect(names).toContain("depends");
    const missing = names.filter((name) => !doc.includes(`\`${name}\``) && !new RegExp(`(^|[\\s{,\`-])${name}:`, "m").test(doc));
    expect(missing).toEqual([]);
  });

  test("docs/operations.md's settings table is the one generated from the validated config (bun coordinator/config-table.ts --write)", () => {
    const doc = read("docs/operations.md");
    const block = doc.match(/<!-- config-table -->\n([\s\S]*?)\n<!-- \/config-table -->/)?.[1];
    expect(block).toBe(configTable());
    // every variable the coordinator's config reads is one of the validated, described settings
    const read_ = new Set([...read("coordinator/config.ts").matchAll(/env\.([A-Z_]+)/g)].map((m) => m[1]!));
    const settings = Object.keys(EnvSettings.shape);
    expect([...read_].filter((name) => !settings.includes(name))).toEqual([]);
    for (const [name, schema] of Object.entries(EnvSettings.shape)) expect([name, schema.meta()?.description?.length ?? 0]).not.toEqual([name, 0]);
  });

  test("every example passes drover lint", () => {
    const examples = files("examples").filter((f) => f.endsWith(".yml"));
    expect(examples.length).toBeGreaterThanOrEqual(4);
    for (const example of examples) {
      const lint = Bun.spawnSync(["bun", "cli/main.ts", "lint", "-f", example], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } });
      expect({ example, out: lint.stderr.toString(), code: lint.exitCode }).toEqual({ example, out: "", code: 0 });
    }
  });

  test("the README and docs/ link only to files inside the repo", () => {
    const pages = ["README.md", ...files("docs"), ...files("examples").filter((f) => f.endsWith(".md"))];
    const broken: string[] = [];
    for (const page of pages) {
      const text = read(page);
      if (text.includes("../shared")) broken.push(`${page}: ../shared`);
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)[^)]*\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const path = resolve(ROOT, dirname(page), target!);
        if (!path.startsWith(ROOT) || !existsSync(path)) broken.push(`${page}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
