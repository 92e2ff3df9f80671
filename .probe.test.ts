import { test, expect } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createGzip } from "node:zlib";
import tar from "tar-stream";
import { extractArchive } from "./agent/archive/extract.ts";

test("x", async () => {
  const pack = tar.pack();
  pack.entry({ name: "../outside/pwned" }, "x");
  pack.finalize();
  const body = Readable.toWeb(Readable.from(pack).pipe(createGzip())) as unknown as ReadableStream<Uint8Array>;
  const dir = mkdtempSync(join(tmpdir(), "p-"));
  let err: unknown;
  try { await extractArchive(body, join(dir, "dest"), true); } catch (e) { err = e; }
  console.log("caught", String(err));
  await Bun.sleep(100);
});
