import { type Figure, round } from "./lib.ts";

/** Rates (anything per second) are better bigger; times, memory and CPU smaller. */
export const higherIsBetter = (f: Pick<Figure, "unit">) => f.unit.endsWith("/s");

/**
 * One figure from each round's: the best value, with every round's value kept beside it. A baseline
 * is the best of its own rounds too (so a figure and the peer figure it names as baseline agree),
 * and the ratio is best against best. The target text is the best round's.
 */
export function bestOf(rounds: Figure[]): Figure {
  const [first] = rounds;
  if (!first) throw new Error("bestOf: no rounds");
  if (rounds.length === 1) return first;
  const pick = higherIsBetter(first) ? Math.max : Math.min;
  const value = pick(...rounds.map((r) => r.value));
  const best = rounds.find((r) => r.value === value)!;
  const bases = rounds.flatMap((r) => (r.baseline === undefined ? [] : [r.baseline]));
  const baseline = bases.length ? pick(...bases) : undefined;
  return {
    ...best,
    ...(baseline === undefined ? {} : { baseline, ratio: round(value / baseline, 3) }),
    rounds: rounds.map((r) => r.value),
  };
}

/** "4.1–5.3" across the rounds, or "" for a figure measured once. */
export const spread = (f: Figure) => (f.rounds && f.rounds.length > 1 ? `${Math.min(...f.rounds)}–${Math.max(...f.rounds)}` : "");
