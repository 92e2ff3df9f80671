import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { parsePipeline } from "../../shared/pipeline/index.ts";
import { quickRead } from "../../shared/pipeline/quick-yaml.ts";

const full = (text: string) => parseDocument(text, { merge: true }).toJS();

/** `text` is read quickly, to what the full parser reads. */
function readsAsFull(text: string): void {
  const quick = quickRead(text);
  expect({ text, read: quick !== undefined }).toEqual({ text, read: true });
  expect({ text, value: quick!.value }).toEqual({ text, value: full(text) });
}

// plain scalars of every kind the core schema resolves, and near misses that YAML 1.1 or js-yaml's own schema read otherwise
const SCALARS = [
  "~",
  "null",
  "Null",
  "NULL",
  "",
  "true",
  "True",
  "TRUE",
  "false",
  "FALSE",
  "yes",
  "no",
  "on",
  "off",
  "y",
  "n",
  "0",
  "-0",
  "+12",
  "007",
  "0o17",
  "0o8",
  "0x1F",
  "0xg",
  "0b101",
  "1_000",
  "1,000",
  "12:30:45",
  "2024-01-01",
  "2024-01-01T10:00:00Z",
  "1.5",
  "1.",
  ".5",
  "-.5",
  "1e3",
  "1E-3",
  "+1.5e+3",
  "1.0e",
  ".inf",
  "-.Inf",
  "+.INF",
  ".nan",
  ".NaN",
  ".NAN",
  "nan",
  "inf",
  "0.0",
  "9007199254740993",
  "1e400",
  "a b",
  "x:y",
  "'q'",
  '"d"',
];

test("plain scalars read quickly resolve as the full parser resolves them", () => {
  for (const s of SCALARS) readsAsFull(`key: ${s}\nlist: [${s === "" ? "''" : s}]\n`);
});

test("block and flow styles, multi-line and odd keys read quickly as the full parser reads them", () => {
  const texts = [
    "a: |\n  one\n  two\n\nb: >\n  folded\n  text\n\n  kept\nc: |-\n  stripped\nd: |+\n  kept\n\n",
    "a: plain\n  continued\n  lines\nb: 'it''s'\nc: \"tab\\tnew\\nline \\u00e9\"\n",
    '1: one\ntrue: t\n0x1F: h\n.inf: i\n1e3: e\n"quoted key": q\n__proto__: {a: 1}\n',
    "seq:\n- a\n- - nested\n  - more\n- {x: 1, y: [2, 3]}\nempty: []\nnone: {}\n",
    "# comment\n---\ntasks:\n  build:   # trailing\n    steps: [ { run: make && make test } ]\n...\n",
  ];
  for (const text of texts) readsAsFull(text);
});

test("what only the full parser reads right is left to it: aliases, tags, merge keys, directives, duplicates, errors", () => {
  const texts = [
    "a: &x {b: 1}\nc: *x\n",
    "a: [&x 1, *x]\n",
    "a: !!str 12\n",
    "a: !custom x\n",
    "base: &b {x: 1}\nd:\n  <<: *b\n",
    "d:\n  <<: {x: 1}\n",
    "%YAML 1.1\n---\na: yes\n",
    "a: 1\na: 2\n",
    "a: [1, 2\n",
    "a: b: c\n",
    "run: rm *.o\n",
    "~: null key\n",
    "null: null key\n",
    ": empty key\n",
    "{a: 1, : 2}\n",
    "? complex\n: value\n",
    "[a, b]: c\n",
    "{x: 1}: y\n",
  ];
  for (const text of texts) expect({ text, quick: quickRead(text) }).toEqual({ text, quick: undefined });
});

test("every pipeline in examples/ parses to the same result whether its YAML is read quickly or fully", () => {
  const dir = join(import.meta.dir, "../../examples");
  const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter(
    (f) => f.endsWith(".drover.yml") || f.endsWith(".yml"),
  );
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    const text = readFileSync(join(dir, f), "utf8");
    readsAsFull(text);
    expect(parsePipeline(text, f).ok).toBe(true);
  }
});

test("a pipeline with a problem is still read with positions, to say where the problem is", () => {
  const result = parsePipeline("tasks:\n  a:\n    steps: [ { run: x } ]\n    bogus: 1\n", "p.yml");
  expect(result).toEqual({ ok: false, errors: ['p.yml:4:5: tasks.a.bogus: unknown key "bogus"'] });
});
