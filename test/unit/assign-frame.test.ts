import { expect, test } from "bun:test";
import { readAssignFrame } from "../../agent/connection/assign-frame.ts";
import { coordinatorMessageSchema } from "../../shared/protocol/coordinator-messages.ts";

const assignment = {
  attempt: "01M8YR0Z6H06QJ1F26KWJMN0WX",
  run: "01M8YR0Z1HVBAJ6DTJZ8CCEHRH",
  task: "t3",
  number: 1,
  arch: "x86_64",
  env: { CI: "true", QUOTED: "it's\n" },
  workspace: null,
  timeoutMs: null,
  secrets: [],
  steps: [{ kind: "run", name: "step 0", command: "echo $EPOCHREALTIME", env: {} }],
  sandbox: false,
  network: false,
  memoryBytes: null,
  checkout: null,
};
const frame = (a: Record<string, unknown>) => ({ type: "assign", assignment: a });

/** What a field may be sent as, right or wrong. */
const VALUES: unknown[] = [undefined, null, true, 0, 1, -1, 1.5, 2 ** 60, "", "x", [], ["x"], [1], {}, { a: "b" }, { a: 1 }];

/** The assignment with one field (of it, or of its first step) taken out or set to each value of VALUES. */
function* variants(): Generator<unknown> {
  for (const key of [...Object.keys(assignment), "extra"]) {
    for (const value of VALUES) yield frame({ ...assignment, [key]: value });
    const { [key as keyof typeof assignment]: _, ...without } = assignment;
    yield frame(without);
  }
  for (const key of ["kind", "name", "command", "env", "extra"]) {
    for (const value of [...VALUES, "run", "save_artifact"]) yield frame({ ...assignment, steps: [{ ...assignment.steps[0], [key]: value }] });
  }
  yield frame({ ...assignment, steps: [] });
  yield frame({ ...assignment, steps: [assignment.steps[0], { kind: "save_artifact", name: "a", paths: ["x"] }] });
  yield { ...frame(assignment), type: "cancel" };
  yield { type: "assign" };
}

test("an assignment of run steps is read by hand as the schema reads it", () => {
  const read = readAssignFrame(frame(assignment));
  expect(read).not.toBeNull();
  expect(read).toEqual(coordinatorMessageSchema.parse(frame(assignment)) as typeof read);
});

test("whatever the hand reading takes, the schema takes alike; what it leaves (other steps, a checkout, a malformed field) goes to the schema", () => {
  let read = 0;
  for (const raw of variants()) {
    const byHand = readAssignFrame(raw);
    if (byHand === null) continue;
    read++;
    const bySchema = coordinatorMessageSchema.safeParse(raw);
    expect(bySchema.success).toBe(true);
    expect(byHand).toEqual(bySchema.data as typeof byHand);
  }
  // the well-formed variants (extra fields, a named workspace, a timeout, secrets, a memory cap, no steps) were read
  expect(read).toBeGreaterThan(5);
  const checkout = { url: "x", sha: "y", ref: null, depth: null, submodules: false, path: "", credentials: null };
  expect(readAssignFrame(frame({ ...assignment, checkout }))).toBeNull();
  expect(coordinatorMessageSchema.safeParse(frame({ ...assignment, checkout })).success).toBe(true);
});
