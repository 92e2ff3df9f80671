import { expect, test } from "bun:test";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { LiveLogs } from "../../coordinator/logs/live-logs.ts";
import { LogUploadRefusedError } from "../../coordinator/logs/log-errors.ts";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { scratchDirs } from "../helpers/scratch.ts";

const { root } = scratchDirs("drover-log-upload-");
const bytes = (text: string) => new TextEncoder().encode(text);
let n = 0;
function liveLogs(maxBytes = 1024 * 1024) {
  const dir = join(root, `live${++n}`);
  const objects = join(root, `objects${n}`);
  return { dir, objects, logs: new LiveLogs(dir, openObjectStore(`posix:${objects}`), maxBytes, false) };
}

/** A body the test feeds piece by piece, and ends when told. */
function feed() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
  });
  return {
    body,
    send: (text: string) => controller.enqueue(bytes(text)),
    end: () => controller.close(),
    fail: () => controller.error(new Error("gone")),
  };
}

const refusal = async (p: Promise<unknown>) => {
  const e = await p.catch((e) => e);
  expect(e).toBeInstanceOf(LogUploadRefusedError);
  return { reason: (e as LogUploadRefusedError).reason, stored: (e as LogUploadRefusedError).stored };
};

test("an upload is written after the chunks before it, byte for byte; acks and followers hear of each size reached", async () => {
  const { dir, logs } = liveLogs();
  const key = { run: "r", attempt: "a", step: 0 };
  logs.append(key, 0, bytes("head:"));
  const heard: number[] = [];
  const woken: number[] = [];
  logs.watch(key, (w) => w && woken.push(w.offset));
  const upload = feed();
  const receiving = logs.receive(key, 5, upload.body, (size) => heard.push(size));
  upload.send("0123456789");
  while (heard.length === 0) await Bun.sleep(5);
  expect(heard).toEqual([15]);
  expect(logs.stored(key)).toBe(15);
  expect(woken).toContain(5);
  upload.send("abc");
  upload.end();
  expect(await receiving).toBe(18);
  expect(readFileSync(join(dir, "a-0.log"), "utf8")).toBe("head:0123456789abc");
  // chunks go on after it, and a resent one is skipped as before
  expect(logs.append(key, 15, bytes("abcdef"))).toBe(21);
  const final = await logs.finalize(key, 21);
  expect(final.size).toBe(21);
});

test("one writer at a time: an upload not at the stored size, beside another, or after the end is refused, naming what is stored", async () => {
  const { logs } = liveLogs();
  const key = { run: "r", attempt: "a", step: 0 };
  logs.append(key, 0, bytes("abc"));
  expect(await refusal(logs.receive(key, 2, feed().body, () => {}))).toEqual({ reason: "offset", stored: 3 });
  const first = feed();
  const receiving = logs.receive(key, 3, first.body, () => {});
  expect(await refusal(logs.receive(key, 3, feed().body, () => {}))).toEqual({ reason: "busy", stored: 3 });
  first.send("def");
  first.end();
  await receiving;
  await logs.finalize(key, 6);
  expect(await refusal(logs.receive(key, 6, feed().body, () => {}))).toEqual({ reason: "final", stored: 6 });
});

test("a chunk waits for an upload being written; the step's end waits for it to settle, and a broken one keeps what reached the file", async () => {
  const { objects, logs } = liveLogs();
  const key = { run: "r", attempt: "a", step: 0 };
  const upload = feed();
  const receiving = logs.receive(key, 0, upload.body, () => {});
  upload.send("abc");
  while (logs.stored(key) < 3) await Bun.sleep(5);
  expect(logs.receivingUpload(key)).not.toBeNull();
  let stored: string | null = null;
  const finalizing = logs.finalize(key, 3).then((f) => {
    stored = f.object;
  });
  await Bun.sleep(30);
  // the file holds the step's bytes, but the upload has not settled: nothing is final yet
  expect(stored).toBeNull();
  upload.fail();
  await receiving.catch(() => {});
  expect(logs.receivingUpload(key)).toBeNull();
  await finalizing;
  expect(readFileSync(join(objects, stored!), "utf8")).toBe("abc");
});

test("a log at its cap refuses uploads, and one that ran past the cap is cut to it, as chunks are", async () => {
  const { objects, logs } = liveLogs(8);
  const key = { run: "r", attempt: "a", step: 0 };
  const upload = feed();
  const receiving = logs.receive(key, 0, upload.body, () => {});
  upload.send("0123456789ab");
  upload.end();
  expect(await receiving).toBe(12);
  expect(await refusal(logs.receive(key, 12, feed().body, () => {}))).toEqual({ reason: "full", stored: 12 });
  expect(logs.append(key, 12, bytes("cd"))).toBe(14);
  const final = await logs.finalize(key, 14);
  expect(readFileSync(join(objects, final.object!), "utf8")).toBe(
    "01234567\n[drover: log truncated at 8 bytes; 6 more bytes were dropped]\n",
  );
});

test("a restarted coordinator resumes from the file: the bytes an upload wrote before the kill count", async () => {
  const { dir } = liveLogs();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "a-0.log"), "written before the kill");
  const logs = new LiveLogs(dir, openObjectStore(`posix:${join(root, "restarted")}`), 1024, false);
  const key = { run: "r", attempt: "a", step: 0 };
  expect(logs.stored(key)).toBe(23);
  const upload = feed();
  const receiving = logs.receive(key, 23, upload.body, () => {});
  upload.send("; and after");
  upload.end();
  expect(await receiving).toBe(34);
  expect(readFileSync(join(dir, "a-0.log"), "utf8")).toBe("written before the kill; and after");
});
