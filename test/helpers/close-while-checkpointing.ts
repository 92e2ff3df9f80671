/**
 * Opens local databases one after another, writes to each until its WAL is being checkpointed, and closes it:
 * prints `closed N` and exits 0 unless closing takes the process down (background-checkpoints.test.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDb } from "../../coordinator/db/open.ts";

const count = Number(process.argv[2]);
const dir = mkdtempSync(join(tmpdir(), "drover-close-checkpointing-"));
try {
  for (let i = 0; i < count; i++) {
    const db = await openDb({ url: `file:${join(dir, `db${i}`)}` });
    await db.$client.execute("CREATE TABLE filler (data BLOB)");
    const started = Date.now();
    while (Date.now() - started < 300) await db.$client.execute("INSERT INTO filler VALUES (randomblob(8000))");
    db.$client.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`closed ${count}`);
