import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDb } from "../../coordinator/db/open.ts";
import { SecretCipher } from "../../coordinator/secrets/cipher.ts";
import { GroupValues } from "../../coordinator/secrets/group-values.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-group-values-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a group's values asked for by many assignments at once are read once; a change is read again; a failed read is not kept", async () => {
  const db = await openDb({ url: `file:${join(dir, "db")}` });
  const values = new GroupValues(db, new SecretCipher(randomBytes(32)));
  await values.set("g", "TOKEN", "s3cret", true);
  await values.set("g", "MODE", "fast", false);
  const execute = db.$client.execute.bind(db.$client);
  let reads = 0;
  let failNext = false;
  db.$client.execute = ((stmt: Parameters<typeof execute>[0]) => {
    reads++;
    if (failNext) {
      failNext = false;
      return Promise.reject(new Error("disk I/O error"));
    }
    return execute(stmt);
  }) as typeof execute;

  const all = await Promise.all(Array.from({ length: 50 }, () => values.resolve("g")));
  expect(reads).toBe(1);
  expect(all.every((v) => v === all[0])).toBe(true);
  expect(all[0]).toEqual({ env: { TOKEN: "s3cret", MODE: "fast" }, plain: { MODE: "fast" }, secrets: ["s3cret"] });

  await values.set("g", "MODE", "slow", false);
  failNext = true;
  reads = 0;
  const failed = await values.resolve("g").catch((e: Error) => e);
  expect(String((failed as Error).cause)).toMatch(/disk I\/O/);
  expect((await values.resolve("g")).env.MODE).toBe("slow");
  expect(reads).toBe(2); // the failed read, the read again
  db.$client.close();
});
