import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import { migrationFiles } from "./migration-files.ts" with { type: "macro" };
import * as schema from "./schema.ts";
import { checkpointInBackground } from "./background-checkpoints.ts";
import { keepPreparedStatements } from "./statement-cache.ts";

export type Db = ReturnType<typeof drizzle<typeof schema>>;

export interface OpenDbOptions {
  /** `file:…` for an embedded database, `libsql://…` / `http://…` for a server */
  url: string;
  authToken?: string;
}

/** Writes the embedded migrations where drizzle's migrator can read them (a compiled binary has no folder). */
function materializeMigrations(): string {
  const dir = mkdtempSync(join(tmpdir(), "drover-migrations-"));
  for (const [name, text] of Object.entries(migrationFiles())) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Opens the database, turns on WAL and foreign keys, and applies the committed migrations. */
export async function openDb({ url, authToken }: OpenDbOptions): Promise<Db> {
  const local = url.startsWith("file:");
  keepPreparedStatements();
  if (local) mkdirSync(dirname(url.slice("file:".length)), { recursive: true });
  // One connection, so the pragmas below hold for every statement (the pool would open more connections
  // without them, and synchronous=FULL would fsync every commit). Nothing holds it across an await:
  // multi-statement writes are synchronous batches.
  const client = createClient({ url, authToken, timeout: 5000, concurrency: 1 } as Parameters<typeof createClient>[0]);
  if (local) {
    await client.execute("PRAGMA journal_mode = WAL");
    // WAL with NORMAL sync is crash-safe; FULL would fsync every commit for no gain in consistency.
    await client.execute("PRAGMA synchronous = NORMAL");
    // several coordinators may share one file (coordinator/cluster): a writer waits for another's commit, by short
    // retries of its statement (lock-wait.ts) rather than SQLite's coarse sleeps
    await client.execute("PRAGMA busy_timeout = 0");
    await checkpointInBackground(client, url.slice("file:".length));
  }
  await client.execute("PRAGMA foreign_keys = ON");
  const db = drizzle(client, { schema });
  const migrations = materializeMigrations();
  try {
    await migrate(db, { migrationsFolder: migrations });
  } finally {
    rmSync(migrations, { recursive: true, force: true });
  }
  return db;
}
