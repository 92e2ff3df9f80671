import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { durationToMs, memoryToBytes, type Pipeline, parsePipeline, type TaskSpec } from "../../shared/pipeline/index.ts";

const DESIGN_EXAMPLE = `env: { CI: "true" }
tasks:
  build:
    arch: amd64                 # optional; one of the agent's archs
    group: linux                # optional executor group
    labels: { disk: ssd }       # optional; must all match the agent's labels
    resources: { cpu: 2, memory: 4G }   # optional; placement honours agent resources too
    timeout: 20m
    retries: 1                  # re-run a failed attempt (lost attempts always retried up to 2x)
    env: { NODE_ENV: test }
    steps:
      - restore_cache: { keys: ['deps-{{ checksum "bun.lock" }}', 'deps-'] }
      - run: bun install
      - save_cache: { key: 'deps-{{ checksum "bun.lock" }}', paths: [node_modules] }
      - run: { name: test, command: bun test, env: { FOO: bar } }
      - save_to_workspace: { paths: ['dist/**'] }
      - save_artifact: { paths: ['coverage/**'] }
  deploy:
    depends: { build: [on_success] }   # conditions: on_success (default), on_failure, on_skipped
    approval: { min_approvers: 2 }
    ignore_failure: false
    steps:
      - restore_workspace: {}
      - run: ./deploy.sh
  matrix-test:
    matrix: { arch: [amd64, arm64], node: ["20", "22"] }   # one task per combination
    steps: [ { run: 'echo $MATRIX_NODE on $MATRIX_ARCH' } ]
`;

function ok(text: string): Pipeline {
  const result = parsePipeline(text);
  if (!result.ok) throw new Error(`expected a valid pipeline, got:\n${result.errors.join("\n")}`);
  return result.pipeline;
}

function errors(text: string, file?: string): string[] {
  const result = parsePipeline(text, file);
  if (result.ok) throw new Error("expected errors, the pipeline parsed");
  return result.errors;
}

const task = (pipeline: Pipeline, name: string): TaskSpec => {
  const found = pipeline.tasks.find((t) => t.name === name);
  if (!found) throw new Error(`no task ${name}`);
  return found;
};

describe("the DESIGN.md example", () => {
  const pipeline = ok(DESIGN_EXAMPLE);

  test("has its tasks sorted by level, then name", () => {
    expect(pipeline.env).toEqual({ CI: "true" });
    expect(pipeline.cacheGroup).toBeUndefined();
    expect(pipeline.tasks.map((t) => [t.level, t.name])).toEqual([
      [0, "build"],
      [0, "matrix-test[arch=amd64,node=20]"],
      [0, "matrix-test[arch=amd64,node=22]"],
      [0, "matrix-test[arch=arm64,node=20]"],
      [0, "matrix-test[arch=arm64,node=22]"],
      [1, "deploy"],
    ]);
  });

  test("normalises build", () => {
    expect(task(pipeline, "build")).toStrictEqual({
      name: "build",
      arch: "amd64",
      group: "linux",
      labels: { disk: "ssd" },
      resources: { cpu: 2, memoryBytes: 4 * 1024 ** 3 },
      timeoutMs: 20 * 60_000,
      retries: 1,
      env: { NODE_ENV: "test" },
      depends: [],
      ignoreFailure: false,
      level: 0,
      steps: [
        { kind: "restore_cache", name: "restore_cache", keys: ['deps-{{ checksum "bun.lock" }}', "deps-"] },
        { kind: "run", name: "bun install", command: "bun install", env: {} },
        { kind: "save_cache", name: "save_cache", key: 'deps-{{ checksum "bun.lock" }}', paths: ["node_modules"] },
        { kind: "run", name: "test", command: "bun test", env: { FOO: "bar" } },
        { kind: "save_to_workspace", name: "save_to_workspace", paths: ["dist/**"] },
        { kind: "save_artifact", name: "save_artifact", paths: ["coverage/**"] },
      ],
    });
  });

  test("normalises deploy", () => {
    expect(task(pipeline, "deploy")).toStrictEqual({
      name: "deploy",
      labels: {},
      retries: 0,
      env: {},
      depends: [{ task: "build", conditions: ["on_success"] }],
      approval: { minApprovers: 2 },
      ignoreFailure: false,
      level: 1,
      steps: [
        { kind: "restore_workspace", name: "restore_workspace" },
        { kind: "run", name: "./deploy.sh", command: "./deploy.sh", env: {} },
      ],
    });
  });

  test("expands the matrix", () => {
    expect(task(pipeline, "matrix-test[arch=arm64,node=22]")).toStrictEqual({
      name: "matrix-test[arch=arm64,node=22]",
      arch: "arm64",
      labels: {},
      retries: 0,
      env: { MATRIX_ARCH: "arm64", MATRIX_NODE: "22" },
      depends: [],
      ignoreFailure: false,
      matrix: { arch: "arm64", node: "22" },
      level: 0,
      steps: [
        {
          kind: "run",
          name: "echo $MATRIX_NODE on $MATRIX_ARCH",
          command: "echo $MATRIX_NODE on $MATRIX_ARCH",
          env: {},
        },
      ],
    });
  });
});

describe("errors", () => {
  test("unknown keys point at the key, and suggest the key of that place they misspell", () => {
    expect(
      errors(
        "tasks:\n  a:\n    stepz: []\n    steps: [ { run: x, nmae: y }, { save_cache: { key: k, pathz: [p] } } ]\n  b:\n    xyz: 1\n    steps: [ { runn: x } ]\n",
      ),
    ).toEqual([
      '.drover.yml:3:5: tasks.a.stepz: unknown key "stepz" (did you mean "steps"?)',
      '.drover.yml:4:24: tasks.a.steps[0].nmae: unknown key "nmae"',
      '.drover.yml:4:37: tasks.a.steps[1].save_cache: missing required key "paths"',
      '.drover.yml:4:59: tasks.a.steps[1].save_cache.pathz: unknown key "pathz" (did you mean "paths"?)',
      '.drover.yml:6:5: tasks.b.xyz: unknown key "xyz"',
      ".drover.yml:7:14: tasks.b.steps[0]: a step needs one of run, save_to_workspace, restore_workspace, save_cache, restore_cache, save_artifact, test_results",
      '.drover.yml:7:16: tasks.b.steps[0].runn: unknown key "runn" (did you mean "run"?)',
    ]);
  });

  test("test_results: junit unless the format says tap", () => {
    const pipeline = ok(
      "tasks:\n  a: { steps: [ { test_results: { paths: [r/*.xml] } }, { test_results: { paths: [o.tap], format: tap } } ] }\n",
    );
    expect(pipeline.tasks[0]!.steps).toEqual([
      { kind: "test_results", name: "test_results", paths: ["r/*.xml"], format: "junit" },
      { kind: "test_results", name: "test_results", paths: ["o.tap"], format: "tap" },
    ]);
    expect(errors("tasks:\n  a: { steps: [ { test_results: { paths: [x], format: xunit } } ] }\n")[0]).toContain(
      'tasks.a.steps[0].test_results.format: Invalid option: expected one of "junit"|"tap"',
    );
  });

  test("a timeout past 7d or more than 10 retries is refused with the bound: a timer cannot even hold 25 days, and each retry is an attempt stored", () => {
    expect(task(ok("tasks:\n  a: { timeout: 7d, retries: 10, steps: [ { run: x } ] }\n"), "a")).toMatchObject({
      timeoutMs: 7 * 24 * 3600 * 1000,
      retries: 10,
    });
    expect(errors("tasks:\n  a: { timeout: 30d, steps: [ { run: x } ] }\n")).toEqual([
      ".drover.yml:2:17: tasks.a.timeout: a timeout may be at most 7d",
    ]);
    expect(errors("tasks:\n  a: { retries: 11, steps: [ { run: x } ] }\n")).toEqual([
      ".drover.yml:2:17: tasks.a.retries: at most 10 retries",
    ]);
  });

  test("approval: true is one approver, false none", () => {
    const pipeline = ok(
      "tasks:\n  a: { approval: true, steps: [ { run: x } ] }\n  b: { approval: false, steps: [ { run: x } ] }\n",
    );
    expect(pipeline.tasks.map((t) => t.approval)).toEqual([{ minApprovers: 1 }, undefined]);
    expect(errors("tasks:\n  a: { approval: yes please, steps: [ { run: x } ] }\n")).toEqual([
      ".drover.yml:2:18: tasks.a.approval: expected true, false or { min_approvers: N }",
    ]);
  });

  test("wrong types point at the value, missing keys at their parent's key", () => {
    expect(
      errors("cache_group: 3\ntasks:\n  a:\n    retries: one\n    steps: [ { run: x } ]\n  b:\n    arch: amd64\n", "ci/p.yml"),
    ).toEqual([
      "ci/p.yml:1:14: cache_group: Invalid input: expected string, received number",
      "ci/p.yml:4:14: tasks.a.retries: Invalid input: expected number, received string",
      'ci/p.yml:6:3: tasks.b: missing required key "steps"',
    ]);
  });

  test("unknown dependencies, in map and list form", () => {
    const text = `tasks:
  a:
    depends: { nope: [on_failure] }
    steps: [ { run: x } ]
  b:
    depends: [a, gone, bb]
    steps: [ { run: x } ]
`;
    expect(errors(text)).toEqual([
      '.drover.yml:3:16: tasks.a.depends.nope: unknown task "nope"',
      '.drover.yml:6:18: tasks.b.depends.gone: unknown task "gone"',
      '.drover.yml:6:24: tasks.b.depends.bb: unknown task "bb" (did you mean "b"?)',
    ]);
  });

  test("cycles name their tasks", () => {
    const text = `tasks:
  c:
    depends: [a]
    steps: [ { run: x } ]
  a:
    depends: [b]
    steps: [ { run: x } ]
  b:
    depends: { c: [on_success, on_failure] }
    steps: [ { run: x } ]
  self:
    depends: [self]
    steps: [ { run: x } ]
  ok:
    depends: [a]
    steps: [ { run: x } ]
`;
    expect(errors(text)).toEqual([
      ".drover.yml:6:15: tasks.a.depends.b: dependency cycle: a -> b -> c -> a",
      ".drover.yml:12:15: tasks.self.depends.self: dependency cycle: self -> self",
    ]);
  });

  test("bad YAML", () => {
    expect(errors("tasks:\n  a: [1\n  b: }\n")).toEqual([
      ".drover.yml:3:3: Flow sequence in block collection must be sufficiently indented and end with a ]",
      '.drover.yml:3:6: Unexpected flow-map-end token in YAML stream: "}"',
    ]);
    expect(errors("tasks:\n  a: 1\n  a: 2\n")).toEqual([".drover.yml:3:3: Map keys must be unique"]);
  });

  test("every error at once, in source order", () => {
    const text = `env:
  1BAD: x
tasks:
  build:
    arch: sparc
    timeout: 20x
    resources: { cpu: 0, memory: lots }
    steps:
      - run: echo
        save_artifact: { paths: [a] }
      - {}
      - run: "  "
      - restore_cache: { keys: [], dest: ../up }
  deploy:
    depends: { build: [on_fail] }
    steps: [ { run: x } ]
  lint:
    retries: -1
    depends: { build: , nope: }
    steps: [ { run: x } ]
  x:
    depends: [y]
    steps: [ { run: x } ]
  y:
    depends: [x]
    steps: [ { run: x } ]
  bad name:
    steps: [ { run: x } ]
`;
    expect(errors(text)).toEqual([
      ".drover.yml:2:3: env.1BAD: an environment variable name must match [A-Za-z_][A-Za-z0-9_]*",
      '.drover.yml:5:11: tasks.build.arch: Invalid option: expected one of "386"|"amd64"|"arm64"|"arm"',
      ".drover.yml:6:14: tasks.build.timeout: expected a duration like 90s, 20m or 1h30m",
      ".drover.yml:7:23: tasks.build.resources.cpu: Too small: expected number to be >0",
      ".drover.yml:7:34: tasks.build.resources.memory: expected a number of bytes or a size like 512M or 4G",
      ".drover.yml:9:9: tasks.build.steps[0]: a step has exactly one kind, got run and save_artifact",
      ".drover.yml:11:9: tasks.build.steps[1]: a step needs one of run, save_to_workspace, restore_workspace, save_cache, restore_cache, save_artifact, test_results",
      ".drover.yml:12:14: tasks.build.steps[2].run: the command must not be empty",
      ".drover.yml:13:32: tasks.build.steps[3].restore_cache.keys: needs at least one key",
      ".drover.yml:13:42: tasks.build.steps[3].restore_cache.dest: must be a path inside the work dir (not absolute, no '..')",
      '.drover.yml:15:24: tasks.deploy.depends.build[0]: Invalid option: expected one of "on_success"|"on_failure"|"on_skipped"',
      ".drover.yml:18:14: tasks.lint.retries: Too small: expected number to be >=0",
      '.drover.yml:19:25: tasks.lint.depends.nope: unknown task "nope"',
      ".drover.yml:22:15: tasks.x.depends.y: dependency cycle: x -> y -> x",
      ".drover.yml:27:3: tasks.bad name: a task name may only hold letters, digits, '_', '.' and '-'",
    ]);
  });

  test("the whole document must be a map with tasks", () => {
    expect(errors("")).toEqual([".drover.yml:1:1: Invalid input: expected object, received null"]);
    expect(errors("env: {}\ntasks: {}\n")).toEqual([".drover.yml:2:8: tasks: needs at least one task"]);
  });

  test("matrix errors", () => {
    const text = `tasks:
  m:
    arch: amd64
    env: { MATRIX_OS: x }
    matrix: { arch: [amd64, sparc, amd64], os: [linux], o_s: [b], o-s: [a], v: [] }
    steps: [ { run: x } ]
  n:
    matrix: { a: [1, "1", "x,y"] }
    steps: [ { run: x } ]
`;
    expect(errors(text)).toEqual([
      ".drover.yml:5:80: tasks.m.matrix.v: needs at least one value",
      ".drover.yml:8:27: tasks.n.matrix.a[2]: a matrix value must be non-empty and hold none of '[', ']', ',', '='",
    ]);
    const fixed = text.replace(", v: []", "").replace(', "x,y"', "");
    expect(errors(fixed)).toEqual([
      '.drover.yml:3:5: tasks.m.arch: arch is also set by matrix key "arch"',
      '.drover.yml:4:12: tasks.m.env.MATRIX_OS: MATRIX_OS is set by matrix key "os"',
      '.drover.yml:5:29: tasks.m.matrix.arch[1]: unknown arch "sparc", expected one of amd64, arm64, arm, 386',
      '.drover.yml:5:36: tasks.m.matrix.arch[2]: duplicate value "amd64"',
      '.drover.yml:5:67: tasks.m.matrix.o-s: sets MATRIX_O_S as matrix key "o_s" does',
      '.drover.yml:8:22: tasks.n.matrix.a[1]: duplicate value "1"',
    ]);
  });
});

describe("dependencies", () => {
  test("a list means on_success, a null condition list too", () => {
    const pipeline = ok(`tasks:
  a: { steps: [ { run: x } ] }
  b: { steps: [ { run: x } ] }
  c:
    depends: [b, a, a]
    steps: [ { run: x } ]
  d:
    depends: { c: , a: [on_failure, on_skipped] }
    steps: [ { run: x } ]
`);
    expect(task(pipeline, "c").depends).toEqual([
      { task: "a", conditions: ["on_success"] },
      { task: "b", conditions: ["on_success"] },
    ]);
    expect(task(pipeline, "d").depends).toEqual([
      { task: "a", conditions: ["on_failure", "on_skipped"] },
      { task: "c", conditions: ["on_success"] },
    ]);
    expect(pipeline.tasks.map((t) => `${t.level}:${t.name}`)).toEqual(["0:a", "0:b", "1:c", "2:d"]);
  });

  test("a dependency on a matrix task fans out to every combination", () => {
    const pipeline = ok(`tasks:
  test:
    matrix: { node: [20, 22], os-name: [linux] }
    env: { A: 1 }
    arch: arm
    steps: [ { run: x } ]
  report:
    depends: { test: [on_success, on_failure] }
    steps: [ { run: x } ]
`);
    const test20 = task(pipeline, "test[node=20,os-name=linux]");
    expect(test20.env).toEqual({ A: "1", MATRIX_NODE: "20", MATRIX_OS_NAME: "linux" });
    expect(test20.matrix).toEqual({ node: "20", "os-name": "linux" });
    expect(test20.arch).toBe("arm");
    expect(task(pipeline, "report")).toMatchObject({
      level: 1,
      depends: [
        { task: "test[node=20,os-name=linux]", conditions: ["on_success", "on_failure"] },
        { task: "test[node=22,os-name=linux]", conditions: ["on_success", "on_failure"] },
      ],
    });
  });
});

describe("steps", () => {
  test("a run step's default name is its first line, at most 60 characters", () => {
    const long = "x".repeat(70);
    const pipeline = ok(`tasks:
  a:
    steps:
      - run: |

          set -e
          make
      - run: ${long}
      - restore_workspace:
      - restore_workspace: { dest: out/ws }
`);
    expect(task(pipeline, "a").steps).toEqual([
      { kind: "run", name: "set -e", command: "\nset -e\nmake\n", env: {} },
      { kind: "run", name: "x".repeat(60), command: long, env: {} },
      { kind: "restore_workspace", name: "restore_workspace" },
      { kind: "restore_workspace", name: "restore_workspace", dest: "out/ws" },
    ]);
  });

  test("env values are coerced to strings, memory and timeouts normalised", () => {
    const pipeline = ok(`env: { PORT: 8080, DEBUG: false }
cache_group: main
tasks:
  a:
    resources: { memory: 512M }
    timeout: 1h30m
    steps: [ { run: x } ]
  b:
    resources: { memory: 1000, cpu: 0.5 }
    timeout: 90s
    steps: [ { run: x } ]
`);
    expect(pipeline.env).toEqual({ PORT: "8080", DEBUG: "false" });
    expect(pipeline.cacheGroup).toBe("main");
    expect(task(pipeline, "a")).toMatchObject({ resources: { memoryBytes: 512 * 1024 ** 2 }, timeoutMs: 5_400_000 });
    expect(task(pipeline, "b")).toMatchObject({ resources: { cpu: 0.5, memoryBytes: 1000 }, timeoutMs: 90_000 });
  });
});

test("durationToMs and memoryToBytes", () => {
  expect(durationToMs("20m")).toBe(1_200_000);
  expect(durationToMs("90s")).toBe(90_000);
  expect(durationToMs("1h30m")).toBe(5_400_000);
  expect(durationToMs("250ms")).toBe(250);
  expect(durationToMs("1.5h")).toBe(5_400_000);
  for (const bad of ["", "20", "m", "20x", "-1s", "1h 30m"]) expect(durationToMs(bad)).toBeNull();
  expect(memoryToBytes("4G")).toBe(4 * 1024 ** 3);
  expect(memoryToBytes("4GiB")).toBe(4 * 1024 ** 3);
  expect(memoryToBytes("512m")).toBe(512 * 1024 ** 2);
  expect(memoryToBytes(2048)).toBe(2048);
  for (const bad of ["", "lots", "4X", "0", 0, -1, 1.5]) expect(memoryToBytes(bad)).toBeNull();
});

test("the order tasks are declared in does not change the result", () => {
  const tasks: [string, unknown][] = [
    ["build", { steps: [{ run: "make" }] }],
    ["deploy", { depends: { build: ["on_success"], lint: null }, steps: [{ run: "./deploy.sh" }] }],
    ["lint", { steps: [{ run: "lint" }] }],
    ["matrix-test", { matrix: { arch: ["amd64", "arm64"], node: ["20", "22"] }, steps: [{ run: "t" }] }],
    ["report", { depends: ["matrix-test", "deploy"], steps: [{ run: "r" }] }],
    ["a.first", { depends: ["lint"], steps: [{ run: "r" }] }],
  ];
  const render = (order: [string, unknown][]) => stringify({ env: { CI: true }, tasks: Object.fromEntries(order) });
  const expected = ok(render(tasks));
  expect(expected.tasks.map((t) => `${t.level}:${t.name}`)).toEqual([
    "0:build",
    "0:lint",
    "0:matrix-test[arch=amd64,node=20]",
    "0:matrix-test[arch=amd64,node=22]",
    "0:matrix-test[arch=arm64,node=20]",
    "0:matrix-test[arch=arm64,node=22]",
    "1:a.first",
    "1:deploy",
    "2:report",
  ]);
  fc.assert(
    fc.property(fc.shuffledSubarray(tasks, { minLength: tasks.length, maxLength: tasks.length }), (order) => {
      expect(ok(render(order))).toEqual(expected);
    }),
  );
});

test("the same text parsed again gives an equal pipeline of its own: changing one result does not change the next", () => {
  const first = ok(DESIGN_EXAMPLE);
  const expected = structuredClone(first);
  first.tasks[0]!.steps.length = 0;
  (first.tasks[0]!.env as Record<string, string>).CHANGED = "yes";
  first.tasks.pop();
  const again = ok(DESIGN_EXAMPLE);
  expect(again).toEqual(expected);
  expect(again.tasks[0]).not.toBe(first.tasks[0]);
  // and a text under another file name still reports errors under that name
  const bad = parsePipeline("tasks: {}\nbogus: 1\n", "a.yml");
  expect(bad.ok ? [] : bad.errors[0]).toMatch(/^a\.yml:/);
  const badElsewhere = parsePipeline("tasks: {}\nbogus: 1\n", "b.yml");
  expect(badElsewhere.ok ? [] : badElsewhere.errors[0]).toMatch(/^b\.yml:/);
});
