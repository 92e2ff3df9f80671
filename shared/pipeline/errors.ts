import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter, type Node } from "yaml";
import type { z } from "zod";
import { keysAt } from "./json-schema.ts";
import { didYouMean } from "./suggest.ts";

export type Path = readonly PropertyKey[];

/** A problem with the value at `path` in the YAML document; `at: "key"` points at its key instead. */
export interface Problem {
  path: Path;
  message: string;
  at?: "key";
}

/** A message at a character offset in the source text. */
export interface Located {
  offset: number;
  message: string;
}

export function zodProblems(issues: readonly z.core.$ZodIssue[], prefix: Path = []): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    const path = [...prefix, ...issue.path];
    switch (issue.code) {
      case "unrecognized_keys":
        return issue.keys.map((key) => ({ path: [...path, key], message: `unknown key "${key}"${didYouMean(String(key), keysAt(path))}`, at: "key" }));
      case "invalid_key":
        return [{ path, message: issue.issues[0]?.message ?? issue.message, at: "key" }];
      case "invalid_union": {
        // The branches whose type matched say what is wrong inside the value; when there is
        // exactly one, its issues are far more useful than "none of the alternatives matched".
        const matched = issue.errors.filter((branch) => !branch.every((i) => i.code === "invalid_type" && i.path.length === 0));
        return matched.length === 1 ? zodProblems(matched[0]!, path) : [{ path, message: issue.message }];
      }
      case "invalid_type":
        if (issue.input === undefined && path.length > 0) {
          return [{ path: path.slice(0, -1), message: `missing required key "${String(path.at(-1))}"`, at: "key" }];
        }
        return [{ path, message: issue.message }];
      default:
        return [{ path, message: issue.message }];
    }
  });
}

export function locate(doc: Document, problem: Problem): Located {
  let node: Node | null | undefined = doc.contents;
  let key: Node | undefined;
  let complete = true;
  for (const segment of problem.path) {
    const next = child(doc, node, segment);
    if (!next) {
      complete = false;
      break;
    }
    [key, node] = next;
  }
  // Point at the key when asked to, when the value is missing or empty, or when the path
  // leads where the document has no node (e.g. a key brought in by a `<<` merge).
  const wantsKey = problem.at === "key" || !complete || !node?.range || node.range[0] === node.range[1];
  const target = (wantsKey && key) || node;
  return { offset: target?.range?.[0] ?? 0, message: withPath(problem.path, problem.message) };
}

function child(doc: Document, parent: Node | null | undefined, segment: PropertyKey): [Node, Node | null] | undefined {
  const node = isAlias(parent) ? parent.resolve(doc) : parent;
  if (isMap(node)) {
    const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
    return pair && [pair.key as Node, (pair.value as Node | null) ?? null];
  }
  if (isSeq(node)) {
    // A string segment into a sequence names an item by value (e.g. a `depends` list entry).
    const item =
      typeof segment === "number"
        ? node.items[segment]
        : node.items.find((entry) => isScalar(entry) && String(entry.value) === String(segment));
    return item === undefined ? undefined : [item as Node, item as Node];
  }
  return undefined;
}

function withPath(path: Path, message: string): string {
  const text = path
    .map((segment, i) => (typeof segment === "number" ? `[${segment}]` : `${i === 0 ? "" : "."}${String(segment)}`))
    .join("");
  return text === "" ? message : `${text}: ${message}`;
}

/** `file:line:column: message` lines (1-based), in source order, without repeats. */
export function render(file: string, lineCounter: LineCounter, located: readonly Located[]): string[] {
  const sorted = [...located].sort((a, b) => a.offset - b.offset);
  const lines = sorted.map(({ offset, message }) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}: ${message}`;
  });
  return [...new Set(lines)];
}
