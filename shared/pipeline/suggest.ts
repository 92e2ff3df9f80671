import { closest, distance } from "fastest-levenshtein";

/** ` (did you mean "depends"?)` when one of `known` is a likely misspelling of `word`, else "". */
export function didYouMean(word: string, known: readonly string[]): string {
  if (known.length === 0) return "";
  const best = closest(word, known as string[]);
  // Two edits, or a third of a long word, may be wrong ("biuld" finds "build"), but never most of it ("xy" finds nothing).
  const allowed = Math.min(word.length - 1, Math.max(2, Math.floor(word.length / 3)));
  return distance(word, best) <= allowed ? ` (did you mean "${best}"?)` : "";
}
