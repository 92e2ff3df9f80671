import { afterAll, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StepLog } from "../../agent/logs/step-log.ts";
import { decodeLogChunk } from "../../shared/protocol/log-frame.ts";
import type { LogUploadRefusal } from "../../shared/protocol/log-upload.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-step-log-upload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 3 MiB of distinct lines: more than a log sends in frames before it uploads. */
const OUTPUT = Buffer.from(Array.from({ length: 400_000 }, (_, i) => `line ${i}\n`).join(""));

/**
 * A coordinator's log side, both ways in: frames (acknowledged at once) and uploads, the first `refusals` of
 * which it refuses for `reason`; every byte lands at its offset in one buffer, as in the live file.
 */
function fakeCoordinator(reason: LogUploadRefusal | null, refusals = 1, maxBytes?: number) {
  const stored = new Uint8Array(OUTPUT.length);
  let size = 0;
  const ways = { frames: 0, uploads: 0, refused: 0, largestUpload: 0 };
  let log!: StepLog;
  const put = (offset: number, data: Uint8Array) => {
    if (offset > size) throw new Error(`gap at ${offset}, have ${size}`);
    stored.set(data, offset);
    size = Math.max(size, offset + data.length);
  };
  const server = Bun.serve({
    port: 0,
    async fetch(req) {
      const offset = Number(new URL(req.url).searchParams.get("offset"));
      if (reason && ways.refused < refusals) {
        ways.refused++;
        await req.body?.cancel();
        return Response.json({ error: { code: "conflict", message: reason, details: { reason, stored: size } } }, { status: 409 });
      }
      if (offset !== size) return Response.json({ error: { code: "conflict", message: "offset", details: { reason: "offset", stored: size } } }, { status: 409 });
      ways.uploads++;
      for await (const piece of req.body!) {
        put(size, piece);
        log.ack(size);
      }
      ways.largestUpload = Math.max(ways.largestUpload, size - offset);
      return Response.json({ stored: size });
    },
  });
  const connection = new AbortController();
  const sender = {
    sendBinary(frame: Uint8Array) {
      const chunk = decodeLogChunk(frame);
      ways.frames++;
      put(chunk.offset, chunk.data.slice());
      queueMicrotask(() => log.ack(size));
      return true;
    },
    whenWritable() {},
    uploadTarget: () => ({
      url: `http://127.0.0.1:${server.port}`,
      agentId: "agent",
      credential: "secret",
      ca: null,
      connection: connection.signal,
      maxBytes,
    }),
  };
  return {
    sender,
    ways,
    use: (l: StepLog) => {
      log = l;
    },
    bytes: () => stored.subarray(0, size),
    stop: () => server.stop(true),
  };
}

/** Output written at once, as a fast step writes it: more than a log sends in frames. */
const PIECE = 1536 * 1024;

/**
 * Writes the output in pieces as a step would, then ends the log: resolves once every byte is acknowledged.
 * `between` runs after each piece but the last (by default a millisecond's pause).
 */
async function runStep(name: string, coordinator: ReturnType<typeof fakeCoordinator>, between = () => Bun.sleep(1)) {
  const out = join(dir, name);
  writeFileSync(out, "");
  const log = new StepLog("a1", 0, out, coordinator.sender, true);
  coordinator.use(log);
  for (let at = 0; at < OUTPUT.length; at += PIECE) {
    appendFileSync(out, OUTPUT.subarray(at, at + PIECE));
    log.grew(Math.min(OUTPUT.length, at + PIECE));
    if (at + PIECE < OUTPUT.length) await between();
  }
  await log.end();
  log.close();
}

test("a log that piles up goes as an upload, byte for byte after the frames before it", async () => {
  const coordinator = fakeCoordinator(null);
  try {
    await runStep("plain", coordinator);
    expect(coordinator.ways.uploads).toBeGreaterThan(0);
    expect(Buffer.compare(coordinator.bytes(), OUTPUT)).toBe(0);
  } finally {
    coordinator.stop();
  }
});

test("an upload carries no more than its node takes in one (its welcome says), and a log larger goes in several", async () => {
  const coordinator = fakeCoordinator(null, 0, 1024 * 1024);
  try {
    await runStep("limited", coordinator);
    expect(coordinator.ways.uploads).toBeGreaterThan(1);
    expect(coordinator.ways.largestUpload).toBeLessThanOrEqual(1024 * 1024);
    expect(Buffer.compare(coordinator.bytes(), OUTPUT)).toBe(0);
  } finally {
    coordinator.stop();
  }
});

test("an upload refused for good (another node, the cap, an older coordinator) leaves the step's log to frames", async () => {
  for (const reason of ["elsewhere", "full"] as const) {
    const coordinator = fakeCoordinator(reason, Number.POSITIVE_INFINITY);
    try {
      await runStep(reason, coordinator);
      expect(coordinator.ways.refused).toBe(1);
      expect(coordinator.ways.uploads).toBe(0);
      expect(Buffer.compare(coordinator.bytes(), OUTPUT)).toBe(0);
    } finally {
      coordinator.stop();
    }
  }
});

test("a busy refusal (an earlier upload not settled yet) sends frames meanwhile and uploads again later", async () => {
  const coordinator = fakeCoordinator("busy", 1);
  try {
    // the step's next output comes once the refusal is in and its backoff (under 50 ms) is over: a fixed pause
    // was once shorter than a slow round trip on a loaded machine, and the rest went in frames too
    await runStep("busy", coordinator, async () => {
      while (coordinator.ways.refused === 0) await Bun.sleep(5);
      await Bun.sleep(60);
    });
    expect(coordinator.ways.refused).toBe(1);
    expect(coordinator.ways.frames).toBeGreaterThan(0);
    expect(coordinator.ways.uploads).toBeGreaterThan(0);
    expect(Buffer.compare(coordinator.bytes(), OUTPUT)).toBe(0);
  } finally {
    coordinator.stop();
  }
});
