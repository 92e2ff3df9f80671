import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDb } from "../../coordinator/db/open.ts";
import { waitFor } from "../helpers/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-checkpoints-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a local database's commits leave its WAL to the background checkpointer, which keeps it from growing", async () => {
  const path = join(dir, "drover.db");
  const db = await openDb({ url: `file:${path}` });
  try {
    // the connection itself no longer checkpoints in a commit
    const pragma = await db.$client.execute("PRAGMA wal_autocheckpoint");
    expect(Object.values(pragma.rows[0]!)[0]).toBe(0);
    await db.$client.execute("CREATE TABLE filler (data BLOB)");
    const blob = new Uint8Array(64 * 1024).fill(7);
    let largest = 0;
    // 64 MiB written a MiB at a time, as a busy coordinator would, with the event loop free between
    for (let mib = 0; mib < 64; mib++) {
      await db.$client.batch(Array.from({ length: 16 }, () => ({ sql: "INSERT INTO filler VALUES (?)", args: [blob] })), "write");
      await Bun.sleep(25);
      largest = Math.max(largest, statSync(`${path}-wal`).size);
    }
    // checkpointed every 100 ms once over 4 MiB, and emptied past 16 MiB even when writes never let up: never all
    // 64 MiB (a tick can come late on a loaded machine, hence the margin)
    expect(largest).toBeGreaterThan(4 * 1024 * 1024);
    expect(largest).toBeLessThan(40 * 1024 * 1024);
  } finally {
    db.$client.close();
  }
});

test("closing a database while its WAL is being checkpointed leaves the process running", async () => {
  // Terminating the Worker in the middle of a checkpoint aborted the whole process (libsql's native code asserts);
  // in a child process, as an abort would take the test runner with it
  const child = Bun.spawn(["bun", join(import.meta.dir, "../helpers/close-while-checkpointing.ts"), "20"], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  expect({ code, out: out.trim(), crashed: /panic|crashed/.test(err) }).toEqual({ code: 0, out: "closed 20", crashed: false });
}, 30_000);

test("once checkpointed, the WAL's file is cut back when it starts again, so its size says what waits to be copied", async () => {
  const path = join(dir, "restart.db");
  const db = await openDb({ url: `file:${path}` });
  try {
    await db.$client.execute("CREATE TABLE filler (data BLOB)");
    const blob = new Uint8Array(64 * 1024).fill(7);
    // 8 MiB: past the Worker's threshold, so it checkpoints
    for (let mib = 0; mib < 8; mib++) {
      await db.$client.batch(Array.from({ length: 16 }, () => ({ sql: "INSERT INTO filler VALUES (?)", args: [blob] })), "write");
    }
    // small writes go on; the first after a checkpoint that copied everything starts the WAL again
    const walBytes = await waitFor(
      "the WAL's file to be cut back",
      async () => {
        await db.$client.execute({ sql: "INSERT INTO filler VALUES (?)", args: [new Uint8Array(16)] });
        const size = statSync(`${path}-wal`).size;
        return size < 4 * 1024 * 1024 && size;
      },
      20_000,
    );
    // under the Worker's threshold again: it checkpoints once 4 MiB more are written, not at every small write
    expect(walBytes).toBeLessThanOrEqual(1024 * 1024);
  } finally {
    db.$client.close();
  }
}, 30_000);
