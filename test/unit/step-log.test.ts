import { afterAll, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StepLog } from "../../agent/logs/step-log.ts";
import { decodeLogChunk, stampsStream } from "../../shared/protocol/log-frame.ts";
import { waitFor } from "../helpers/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "drover-step-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a step's output goes out before the timestamp of its read, which records where the read began", () => {
  const sent: { step: number; offset: number; text: string }[] = [];
  const sender = {
    sendBinary(frame: Uint8Array) {
      const chunk = decodeLogChunk(frame);
      sent.push({ step: chunk.step, offset: chunk.offset, text: new TextDecoder().decode(chunk.data) });
      return true;
    },
    whenWritable() {},
  };
  const out = join(dir, "0.out");
  writeFileSync(out, "first\n");
  const stamps = new StepLog("a1", stampsStream(0), join(dir, "0.stamps"), sender);
  const log = new StepLog("a1", 0, out, sender, true, stamps);
  const before = Date.now();
  log.grew(6);
  // the coordinator records a step's first byte as its log's first chunk arrives: no frame goes ahead of it
  expect(sent.map((s) => s.step)).toEqual([0, stampsStream(0)]);
  expect(sent[0]).toEqual({ step: 0, offset: 0, text: "first\n" });
  const [offset, ms] = sent[1]!.text.trim().split(" ").map(Number);
  expect(offset).toBe(0);
  expect(ms).toBeGreaterThanOrEqual(before);
  appendFileSync(out, "second\n");
  log.ack(6);
  log.grew(13);
  expect(sent.slice(2).map((s) => [s.step, s.offset])).toEqual([[0, 6]]);
  log.close();
});

test("a log that starts small and grows large goes out whole and in order, a frame at most 256 KiB", () => {
  const sent: { offset: number; data: Uint8Array }[] = [];
  const sender = {
    sendBinary(frame: Uint8Array) {
      const chunk = decodeLogChunk(frame);
      sent.push({ offset: chunk.offset, data: chunk.data.slice() });
      return true;
    },
    whenWritable() {},
  };
  const out = join(dir, "1.out");
  const bytes = new Uint8Array(700 * 1024).map((_, i) => i % 251);
  writeFileSync(out, bytes.subarray(0, 3));
  const log = new StepLog("a1", 0, out, sender, true);
  log.grew(3);
  log.ack(3);
  appendFileSync(out, bytes.subarray(3, 5000));
  log.grew(5000);
  log.ack(5000);
  appendFileSync(out, bytes.subarray(5000));
  log.grew(bytes.length);
  expect(sent.slice(0, 2).map((s) => s.data.length)).toEqual([3, 4997]);
  expect(sent.every((s) => s.data.length <= 256 * 1024)).toBe(true);
  expect(sent.map((s) => s.offset)).toEqual(sent.map((_, i) => sent.slice(0, i).reduce((n, s) => n + s.data.length, 0)));
  expect(Buffer.concat(sent.map((s) => s.data)).equals(Buffer.from(bytes))).toBe(true);
  log.close();
});

test("a log closed once stored drops its spool and its timestamps stream's, off the agent's thread", async () => {
  const sender = { sendBinary: () => true, whenWritable() {} };
  const out = join(dir, "2.out");
  const stampsPath = join(dir, "2.stamps");
  writeFileSync(out, "x\n");
  const log = new StepLog("a1", 0, out, sender, true, new StepLog("a1", stampsStream(0), stampsPath, sender));
  log.grew(2);
  log.close();
  await waitFor("both spools to go", () => !existsSync(out) && !existsSync(stampsPath), 5_000, 5);
});
