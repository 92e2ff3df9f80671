import { expect, test } from "bun:test";
import { breathe, Serial, SharedTurns } from "../../coordinator/runs/serial.ts";

/** A turn that notes its name when it starts and ends a few milliseconds later, as a write does. */
const turn = (order: string[], name: string) => async () => {
  order.push(name);
  await Bun.sleep(2);
  return name;
};

test("a new run's turn waits for at most one other turn, not for every change queued before it", async () => {
  const serial = new Serial();
  const order: string[] = [];
  const changes = Array.from({ length: 6 }, (_, i) => serial.run(turn(order, `change ${i}`)));
  const created = serial.create(turn(order, "create"));
  expect(await created).toBe("create");
  await Promise.all(changes);
  expect(order.indexOf("create")).toBeLessThanOrEqual(1);
  // each lane keeps its arrival order
  expect(order.filter((n) => n !== "create")).toEqual(Array.from({ length: 6 }, (_, i) => `change ${i}`));
});

test("while both lanes wait they take turns: many creations do not hold back the other changes", async () => {
  const serial = new Serial();
  const order: string[] = [];
  const all = [
    ...Array.from({ length: 4 }, (_, i) => serial.create(turn(order, `create ${i}`))),
    ...Array.from({ length: 3 }, (_, i) => serial.run(turn(order, `change ${i}`))),
  ];
  await Promise.all(all);
  expect(order).toEqual(["create 0", "change 0", "create 1", "change 1", "create 2", "change 2", "create 3"]);
});

test("turns run one at a time; a failed turn fails its caller only; settled waits for both lanes", async () => {
  const serial = new Serial();
  let inside = 0;
  let most = 0;
  const counted = async () => {
    most = Math.max(most, ++inside);
    await Bun.sleep(1);
    inside--;
  };
  const failing = serial
    .run(async () => {
      throw new Error("refused");
    })
    .catch((e: Error) => e.message);
  const rest = [serial.run(counted), serial.create(counted), serial.run(counted), serial.create(counted)];
  await serial.settled();
  expect(await failing).toBe("refused");
  expect(inside).toBe(0);
  expect(most).toBe(1);
  await Promise.all(rest);
});

/** Holds the thread for `ms`, as a stretch of synchronous SQLite writes and engine work does. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test("breathe lets the event loop through once a stretch ran past its budget", async () => {
  await breathe();
  busy(10);
  const order: string[] = [];
  setImmediate(() => order.push("waiting callback"));
  await breathe();
  order.push("after the long stretch");
  expect(order).toEqual(["waiting callback", "after the long stretch"]);
});

test("a turn of gathered reports lets requests in between its moves' work, still holding the queue", async () => {
  const serial = new Serial();
  const turns = new SharedTurns(serial);
  const order: string[] = [];
  let sawRequest = false;
  const moves = Array.from({ length: 8 }, (_, i) =>
    turns.run({
      attempt: `a${i}`,
      move: async () => i,
      after: (n) => {
        busy(3);
        if (n === 0) setImmediate(() => (sawRequest = true));
        order.push(`after ${n}${sawRequest ? " (a request ran)" : ""}`);
      },
    }),
  );
  const other = serial.run(async () => order.push("next turn"));
  await Promise.all([...moves, other]);
  // the request queued by the first move's work ran before the turn ended; the next turn waited for all of it
  expect(order.at(-2)).toBe("after 7 (a request ran)");
  expect(order.at(-1)).toBe("next turn");
});
