import { expect, test } from "bun:test";
import { bestOf, spread } from "../bench/best.ts";

test("a rate's best round is its highest, a time's its lowest, with every round kept", () => {
  expect(bestOf([{ value: 400, unit: "tasks/s" }, { value: 520, unit: "tasks/s" }, { value: 450, unit: "tasks/s" }])).toEqual({
    value: 520,
    unit: "tasks/s",
    rounds: [400, 520, 450],
  });
  expect(bestOf([{ value: 5.2, unit: "ms" }, { value: 4.1, unit: "ms" }]).value).toBe(4.1);
});

test("the baseline is the best of its own rounds, so it equals the peer figure it was taken from", () => {
  const rounds = [
    { value: 6, unit: "ms", baseline: 0.3, ratio: 20, target: "round 1" },
    { value: 5, unit: "ms", baseline: 0.5, ratio: 10, target: "round 2" },
  ];
  const peer = bestOf(rounds.map((r) => ({ value: r.baseline, unit: "ms" })));
  const best = bestOf(rounds);
  expect(best.baseline).toBe(peer.value);
  expect(best).toMatchObject({ value: 5, baseline: 0.3, ratio: 16.667, target: "round 2" });
});

test("one round is the figure as measured, without a spread", () => {
  const once = { value: 3, unit: "MiB", target: "≤ 4" };
  expect(bestOf([once])).toBe(once);
  expect(spread(once)).toBe("");
  expect(spread(bestOf([once, { value: 7, unit: "MiB" }]))).toBe("3–7");
});
