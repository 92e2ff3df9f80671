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
// arrives the other task has stored the key. Streamed to the coordinator, it answers at once, reading
// none of the body, and the runtime cancels the rest; sending to a bucket, the coordinator's plan says
// the key exists and the agent cancels the archive itself. Neither must fail the step.
for (const plan of ["coordinator", "exists"] as const) {
  test(`a save_cache the coordinator answers with stored: false before reading the archive succeeds (plan: ${plan})`, async () => {
    const requests: string[] = [];
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(req) {
        if (req.method === "GET") return Response.json({ error: { code: "not_found", message: "no such cache" } }, { status: 404 });
        requests.push(`${req.method} ${new URL(req.url).pathname}`);
        if (req.method === "POST") return Response.json({ via: plan });
        return Response.json({ stored: false });
      },
    });
    try {
      mkdirSync(join(dir, plan, "d"), { recursive: true });
      const work = join(dir, plan);
      // more than one frame, so the body is still being read when the answer comes
      writeFileSync(join(work, "d", "f"), crypto.getRandomValues(new Uint8Array(64 * 1024)).join(","));
      const lines: string[] = [];
      const files = new FilesClient({ coordinator: () => `http://127.0.0.1:${server.port}`, ca: null, attempt: "a1", agentId: () => "agent", credential: () => "t" });
      const ctx = { dir: work, step: 0, keys: { dir: work, arch: "amd64", env: {} }, files, kept: new KeptWorkspaces(join(work, "kept"), 0), log: (l: string) => lines.push(l) };
      await saveCache({ key: "same-key", paths: ["d"] }, ctx);
      const put = plan === "coordinator" ? ["PUT /agent/v1/attempts/a1/caches/same-key"] : [];
      expect(requests).toEqual(["POST /agent/v1/attempts/a1/uploads", ...put]);
      expect(lines).toEqual(["cache same-key was saved by another task meanwhile, not stored"]);
    } finally {
      server.stop(true);
    }
  });
}
