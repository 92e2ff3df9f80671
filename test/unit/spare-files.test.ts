import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SpareFiles } from "../../shared/spare-files.ts";
import { waitFor } from "../helpers/processes.ts";

/** Waits (bounded) until `count` spares are ready: they are made off the event loop, later under load. */
const madeAhead = (spares: SpareFiles, count: number) =>
  waitFor(`${count} spares made ahead`, () => (spares.ready >= count ? true : undefined), 10_000, 5);

test("spare files: each take is a new empty file of the agent's alone, made ahead once the first is taken", async () => {
  const dir = mkdtempSync(join(tmpdir(), "drover-spares-"));
  try {
    const spares = new SpareFiles(join(dir, "spare"));
    writeFileSync(join(dir, "old"), "left over");
    spares.take(join(dir, "old"));
    expect(readFileSync(join(dir, "old"), "utf8")).toBe("");
    await madeAhead(spares, 1);
    const made = readdirSync(join(dir, "spare")).map((name) => statSync(join(dir, "spare", name)).ino);
    spares.take(join(dir, "a"));
    expect(statSync(join(dir, "a")).mode & 0o777).toBe(0o600);
    // moved into place, not made
    expect(made).toContain(statSync(join(dir, "a")).ino);
    // an agent started again keeps what its earlier run made; with the dir gone, a take makes its file itself
    expect(readdirSync(join(dir, "spare")).length).toBeGreaterThan(0);
    const again = new SpareFiles(join(dir, "spare"));
    rmSync(join(dir, "spare"), { recursive: true });
    again.take(join(dir, "b"));
    expect(readFileSync(join(dir, "b"), "utf8")).toBe("");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("spare files: create makes a missing file of a spare and leaves one that is there as it is", async () => {
  const dir = mkdtempSync(join(tmpdir(), "drover-spares-"));
  try {
    const spares = new SpareFiles(join(dir, "spare"), 2);
    writeFileSync(join(dir, "kept"), "still here");
    spares.create(join(dir, "kept"));
    expect(readFileSync(join(dir, "kept"), "utf8")).toBe("still here");
    spares.create(join(dir, "new"));
    await madeAhead(spares, 2);
    await Bun.sleep(50);
    // no more than it was asked to keep
    expect(readdirSync(join(dir, "spare")).length).toBe(2);
    const made = readdirSync(join(dir, "spare")).map((name) => statSync(join(dir, "spare", name)).ino);
    spares.create(join(dir, "newer"));
    expect(made).toContain(statSync(join(dir, "newer")).ino);
    expect(readFileSync(join(dir, "newer"), "utf8")).toBe("");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("spare dirs: each take is a new empty directory of the agent's alone, made ahead; one already there is kept", async () => {
  const dir = mkdtempSync(join(tmpdir(), "drover-spares-"));
  try {
    const spares = new SpareFiles(join(dir, "spare"), 2, "dir");
    spares.take(join(dir, "a"));
    await madeAhead(spares, 2);
    const made = readdirSync(join(dir, "spare")).map((name) => statSync(join(dir, "spare", name)).ino);
    expect(made.length).toBe(2);
    spares.take(join(dir, "b"));
    for (const name of ["a", "b"]) {
      expect(statSync(join(dir, name)).isDirectory()).toBe(true);
      expect(statSync(join(dir, name)).mode & 0o777).toBe(0o700);
      expect(readdirSync(join(dir, name))).toEqual([]);
    }
    // moved into place, not made
    expect(made).toContain(statSync(join(dir, "b")).ino);
    writeFileSync(join(dir, "b", "kept"), "still here");
    spares.take(join(dir, "b"));
    expect(readFileSync(join(dir, "b", "kept"), "utf8")).toBe("still here");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
