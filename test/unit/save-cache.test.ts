import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FilesClient } from "../../agent/connection/files-client.ts";
import { KeptWorkspaces } from "../../agent/archive/kept.ts";
import { saveCache } from "../../agent/steps/save-cache.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-save-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The race of two tasks saving one key: this one's lookup found nothing, but by the time its upload
// arrives the other task has stored the key, and the coordinator answers at once, reading none of the
// body. The runtime then cancels the rest of the upload; that must not fail the step.
test("a save_cache the coordinator answers with stored: false before reading the archive succeeds", async () => {
  const puts: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      if (req.method === "GET") return Response.json({ error: { code: "not_found", message: "no such cache" } }, { status: 404 });
      puts.push(new URL(req.url).pathname);
      return Response.json({ stored: false });
    },
  });
  try {
    mkdirSync(join(dir, "d"));
    // more than one frame, so the body is still being read when the answer comes
    writeFileSync(join(dir, "d", "f"), crypto.getRandomValues(new Uint8Array(64 * 1024)).join(","));
    const lines: string[] = [];
    const files = new FilesClient({ coordinator: () => `http://127.0.0.1:${server.port}`, ca: null, attempt: "a1", agentId: () => "agent", credential: () => "t" });
    await saveCache({ key: "same-key", paths: ["d"] }, { dir, step: 0, keys: { dir, arch: "amd64", env: {} }, files, kept: new KeptWorkspaces(join(dir, "kept"), 0), log: (l) => lines.push(l) });
    expect(puts).toEqual(["/agent/v1/attempts/a1/caches/same-key"]);
    expect(lines).toEqual(["cache same-key was saved by another task meanwhile, not stored"]);
  } finally {
    server.stop(true);
  }
});
