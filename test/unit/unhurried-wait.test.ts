import { expect, test } from "bun:test";
import { unhurriedWaitMs } from "../../coordinator/runs/run-advances.ts";

test("an unhurried change waits for its run's others 0.1 ms per task, 100 ms at most, and in a run of fewer than ten tasks not at all", () => {
  expect([1, 9, 10, 300, 1000, 5000].map(unhurriedWaitMs)).toEqual([0, 0, 1, 30, 100, 100]);
});
