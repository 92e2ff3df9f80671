import type { Problem } from "./errors.ts";
import { didYouMean } from "./suggest.ts";
import type { Dependency } from "./types.ts";

/** Declared task name → its declared dependencies. */
export type Graph = ReadonlyMap<string, readonly Dependency[]>;

export const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Dependencies on names missing from `known`, and one problem per dependency cycle. */
export function checkGraph(graph: Graph, known: ReadonlySet<string>): Problem[] {
  const problems: Problem[] = [];
  for (const [name, depends] of graph) {
    for (const { task } of depends) {
      if (!known.has(task)) {
        problems.push({ path: ["tasks", name, "depends", task], message: `unknown task "${task}"${didYouMean(task, [...known])}`, at: "key" });
      }
    }
  }
  for (const cycle of cycles(graph)) {
    problems.push({
      path: ["tasks", cycle[0]!, "depends", cycle[1]!],
      message: `dependency cycle: ${cycle.join(" -> ")}`,
      at: "key",
    });
  }
  return problems;
}

function parents(graph: Graph, name: string): string[] {
  return (graph.get(name) ?? [])
    .map((d) => d.task)
    .filter((task) => graph.has(task))
    .sort(byName);
}

/** One closed walk (first name repeated last) per strongly connected component that loops (Tarjan). */
function cycles(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];

  const visit = (name: string) => {
    index.set(name, index.size);
    low.set(name, index.get(name)!);
    stack.push(name);
    onStack.add(name);
    for (const parent of parents(graph, name)) {
      if (!index.has(parent)) {
        visit(parent);
        low.set(name, Math.min(low.get(name)!, low.get(parent)!));
      } else if (onStack.has(parent)) {
        low.set(name, Math.min(low.get(name)!, index.get(parent)!));
      }
    }
    if (low.get(name) !== index.get(name)) return;
    const component = new Set<string>();
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.add(member);
    } while (member !== name);
    const first = [...component].sort(byName)[0]!;
    if (component.size > 1 || parents(graph, first).includes(first)) found.push(walk(graph, component, first));
  };

  for (const name of [...graph.keys()].sort(byName)) if (!index.has(name)) visit(name);
  return found.sort((a, b) => byName(a[0]!, b[0]!));
}

/** Shortest walk from `start` back to itself inside `component` (breadth first). */
function walk(graph: Graph, component: ReadonlySet<string>, start: string): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const name = queue[i]!;
    for (const parent of parents(graph, name)) {
      if (!component.has(parent)) continue;
      if (parent === start) {
        const between: string[] = [];
        for (let at = name; at !== start; at = cameFrom.get(at)!) between.push(at);
        return [start, ...between.reverse(), start];
      }
      if (!cameFrom.has(parent)) {
        cameFrom.set(parent, name);
        queue.push(parent);
      }
    }
  }
  return [start, start];
}

/** Depth of each task: 0 for roots, else 1 + the deepest parent's. The graph must be acyclic. */
export function levels(graph: Graph): Map<string, number> {
  const level = new Map<string, number>();
  const of = (name: string): number => {
    let known = level.get(name);
    if (known === undefined) {
      known = Math.max(-1, ...parents(graph, name).map(of)) + 1;
      level.set(name, known);
    }
    return known;
  };
  for (const name of graph.keys()) of(name);
  return level;
}
