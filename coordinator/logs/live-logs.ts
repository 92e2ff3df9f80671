import { fsyncSync, ftruncateSync, mkdirSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { preciseNow } from "../../shared/precise-clock.ts";
import { SpareFiles } from "../../shared/spare-files.ts";
import { SEGMENT } from "../store/drop-behind.ts";
import type { ObjectStore } from "../store/object-store.ts";
import { DiskFullError, isDiskFull, LogGapError, LogUploadRefusedError } from "./log-errors.ts";
import { LogFollowers, type Written } from "./log-followers.ts";
import { closeLiveLog, type FinalLog, type LiveLog, type LogKey, liveName, logObjectKey, openLiveLog } from "./live-log.ts";
import { appendBody } from "./native-append.ts";

const EMPTY_LOG: FinalLog = Object.freeze({ object: null, size: 0, sha256: "", firstByteAt: null });

/** live log files kept made ahead: the steps of a dispatch pass of fifty agents' slots end about together */
const SPARE_LOGS = 64;

const NOT_IN_HAND = new Uint8Array(0);

/**
 * Step logs while they are being written: appended to a file under the data dir
 * (acknowledged once written), then moved into object storage when the step ends.
 * Chunk offsets make appends idempotent after a reconnect.
 */
export class LiveLogs {
  private readonly logs = new Map<string, LiveLog>();
  /** logs already moved to storage, so a late duplicate chunk is acknowledged, not re-opened, and a repeated end answered */
  private readonly finalized = new Map<string, { received: number; final: FinalLog }>();
  /** logs given up on a full disk: later chunks of them are refused, not written to a new file */
  private readonly failed = new Map<string, DiskFullError>();
  private readonly followers = new LogFollowers();

  constructor(
    private readonly dir: string,
    private readonly store: ObjectStore,
    private readonly maxBytes: number,
    private readonly fsync: boolean,
    /** told when a log gets its first bytes on this node: followers on other nodes may ask for it here now */
    private readonly announce: (key: LogKey) => void = () => {},
  ) {
    mkdirSync(dir, { recursive: true });
    this.spares = new SpareFiles(join(dir, ".spare"), SPARE_LOGS);
  }

  /** a live log's file is made ahead, off the event loop: making it as the step's first bytes (or end) came was a sixth of the coordinator's CPU with many short steps */
  private readonly spares: SpareFiles;

  private open(key: LogKey): LiveLog {
    const name = liveName(key);
    let log = this.logs.get(name);
    if (!log) {
      const path = join(this.dir, name);
      // one made before (a restarted coordinator's, or a log appended to since) is kept as it is
      this.spares.create(path);
      log = openLiveLog(name, path);
      this.logs.set(name, log);
    }
    return log;
  }

  /** Applies a chunk and returns the offset up to which the log is now stored. */
  append(key: LogKey, offset: number, data: Uint8Array): number {
    const done = this.finalized.get(liveName(key));
    if (done) return done.received;
    const failed = this.failed.get(liveName(key));
    if (failed) throw failed;
    const log = this.open(key);
    if (offset > log.received) throw new LogGapError(`log gap: have ${log.received} bytes, chunk starts at ${offset}`);
    const fresh = data.subarray(log.received - offset);
    // bytes past the size the step ended with: the log is final (and its fd closed)
    if (fresh.length === 0 || log.uploading) return log.received;
    const room = Math.max(0, this.maxBytes - log.received);
    if (room > 0) this.write(log, room >= fresh.length ? fresh : fresh.subarray(0, room));
    const first = log.firstByteAt === null;
    log.firstByteAt ??= preciseNow();
    log.received += fresh.length;
    if (first) this.announce(key);
    if (log.waiting && log.received >= log.waiting.size) this.complete(key, log);
    return log.received;
  }

  /** While an agent's upload of the log is being written: the promise settles when it has (chunks wait for it). */
  receivingUpload(key: LogKey): Promise<unknown> | null {
    return this.logs.get(liveName(key))?.receiving ?? null;
  }

  /**
   * Writes an agent's upload of the log's bytes from `offset` on straight into its file, one upload at a
   * time and never beside chunks; `stored` hears of each size reached. Resolves with the size stored once
   * the whole body is written. Refused, with nothing written, unless the upload starts at the size stored,
   * and once the log is complete or at its cap (an upload may run past the cap: the file is cut to it at the end).
   */
  async receive(key: LogKey, offset: number, body: ReadableStream<Uint8Array>, stored: (size: number) => void): Promise<number> {
    const name = liveName(key);
    const done = this.finalized.get(name);
    if (done) throw new LogUploadRefusedError("final", done.received, "the step's log is already stored");
    const failed = this.failed.get(name);
    if (failed) throw failed;
    const log = this.open(key);
    if (log.receiving) throw new LogUploadRefusedError("busy", log.received, "another upload of this log is still being written");
    if (log.waiting || log.uploading) throw new LogUploadRefusedError("final", log.received, "the step's log is complete");
    if (offset !== log.received) {
      throw new LogUploadRefusedError(
        "offset",
        log.received,
        `the upload starts at byte ${offset}, the log holds ${log.received}`,
      );
    }
    if (log.received >= this.maxBytes)
      throw new LogUploadRefusedError("full", log.received, `the log reached its cap of ${this.maxBytes} bytes`);
    const settled = Promise.withResolvers<void>();
    log.receiving = settled.promise;
    try {
      return await appendBody(log.path, body, (size) => this.grewTo(key, log, size, stored));
    } catch (e) {
      throw isDiskFull(e) ? new DiskFullError(e) : e;
    } finally {
      log.receiving = null;
      settled.resolve();
      this.completeIfEnded(key, log);
    }
  }

  /** The step's end came while an upload was being written: the log is complete once it has settled. */
  private completeIfEnded(key: LogKey, log: LiveLog): void {
    const { waiting } = log;
    if (this.logs.get(log.name) === log && !log.uploading && waiting && log.received >= waiting.size) this.complete(key, log);
  }

  /** An upload made the file `size` bytes long (the file's size is the truth: a restart finds the same). */
  private grewTo(key: LogKey, log: LiveLog, size: number, stored: (size: number) => void): void {
    // given up or forgotten meanwhile: its fd is closed and nobody counts its bytes
    if (this.logs.get(log.name) !== log || log.uploading) return;
    const offset = log.written;
    log.written = size;
    log.received = size;
    log.reservation.grow(size);
    log.cache.wrote(size, this.followers.slowestReader(log.name));
    const first = log.firstByteAt === null;
    log.firstByteAt ??= preciseNow();
    if (first) this.announce(key);
    // no bytes in hand: followers read them from the file
    this.followers.notify(log.name, { offset, data: NOT_IN_HAND });
    stored(size);
  }

  /**
   * Appends all of `data` or nothing: a short or failed write is cut back off the file, so what is
   * counted (and acknowledged) never runs ahead of what the file holds.
   */
  private write(log: LiveLog, data: Uint8Array): void {
    log.reservation.grow(log.written);
    const offset = log.written;
    try {
      for (let done = 0; done < data.length; ) done += writeSync(log.fd, data, done, data.length - done, offset + done);
    } catch (e) {
      ftruncateSync(log.fd, offset);
      throw isDiskFull(e) ? new DiskFullError(e) : e;
    }
    log.written += data.length;
    log.cache.wrote(log.written, this.followers.slowestReader(log.name));
    this.followers.notify(log.name, { offset, data });
  }

  /** Whether the step's live log was given up on a full disk. */
  discarded(key: LogKey): boolean {
    return this.failed.has(liveName(key));
  }

  /**
   * Gives up a step's live log after its disk filled: its file is removed (which gives the space back,
   * so the database can record why), whoever waits for it is told, and later chunks are refused.
   */
  discard(key: LogKey, error: DiskFullError): void {
    const name = liveName(key);
    this.failed.set(name, error);
    const log = this.logs.get(name);
    if (log) {
      if (!log.uploading) closeLiveLog(log);
      this.logs.delete(name);
      log.waiting?.reject(error);
    }
    rmSync(join(this.dir, name), { force: true });
    this.followers.notify(name, null);
  }

  stored(key: LogKey): number {
    const name = liveName(key);
    return this.logs.get(name)?.received ?? this.finalized.get(name)?.received ?? this.fileSize(key);
  }

  /** A live log file that is not there holds no bytes; any other failure to look is not "0 bytes stored". */
  private fileSize(key: LogKey): number {
    try {
      return statSync(join(this.dir, liveName(key))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return 0;
      throw e;
    }
  }

  /**
   * Resolves once the log holds `size` bytes and has been moved into object storage. Asked again (the end
   * sent again, or the attempt lost meanwhile), it answers with the same outcome, stored at the smaller size.
   * A log that ends empty, with nothing received, is stored nowhere: no file, no object (for steps that print
   * nothing, making, storing and recording an empty file was a fifth of the coordinator's work per task).
   */
  finalize(key: LogKey, size: number): Promise<FinalLog> {
    const name = liveName(key);
    const failed = this.failed.get(name);
    if (failed) return Promise.reject(failed);
    const done = this.finalized.get(name);
    if (done) return Promise.resolve(done.final);
    if (size === 0 && !this.logs.has(name)) return Promise.resolve(EMPTY_LOG);
    const log = this.open(key);
    if (!log.waiting) {
      const { promise, resolve, reject } = Promise.withResolvers<FinalLog>();
      log.waiting = { size, stored: promise, resolve, reject };
    }
    const waiting = log.waiting;
    waiting.size = Math.min(waiting.size, size);
    if (!log.uploading && !log.receiving && log.received >= waiting.size) this.complete(key, log);
    return waiting.stored;
  }

  private complete(key: LogKey, log: LiveLog): void {
    const waiting = log.waiting!;
    // an upload that started below the cap may have run past it
    if (log.written > this.maxBytes) {
      ftruncateSync(log.fd, this.maxBytes);
      log.written = this.maxBytes;
    }
    const dropped = log.received - Math.min(log.received, this.maxBytes);
    if (dropped > 0) {
      this.write(log, Buffer.from(`\n[drover: log truncated at ${this.maxBytes} bytes; ${dropped} more bytes were dropped]\n`));
    }
    log.reservation.release(log.written);
    if (this.fsync) fsyncSync(log.fd);
    // a small log is left to the kernel: writing each back at once would be an I/O per step for many short steps
    if (log.written >= SEGMENT) log.cache.complete(this.followers.slowestReader(log.name));
    closeLiveLog(log);
    log.uploading = true;
    const object = logObjectKey(key);
    // Logs are not content-addressed, and hashing them would cost a third of the ingest time: no digest.
    this.store
      .putFile(object, log.path, { size: log.written, sha256: "" })
      .then(({ size, sha256 }) => {
        rmSync(log.path, { force: true });
        this.logs.delete(liveName(key));
        const final = { object, size, sha256, firstByteAt: log.firstByteAt };
        this.finalized.set(liveName(key), { received: log.received, final });
        waiting.resolve(final);
        this.followers.notify(log.name, null);
      })
      .catch((e) => {
        // the fd is closed and the step is over: forget the log, keep its file for whoever looks at it
        this.logs.delete(liveName(key));
        waiting.reject(e);
      });
  }

  /**
   * Path and current size of a log still being written, or null once it has moved to storage. The file holds
   * that size and is never cut below it (only what runs past the cap, or a write that failed, is cut off), which
   * readers that map it count on: touching a page past a file's end raises SIGBUS.
   */
  live(key: LogKey): { path: string; size: number } | null {
    const log = this.logs.get(liveName(key));
    if (log) return { path: log.path, size: Math.min(log.received, this.maxBytes) };
    const size = this.fileSize(key);
    return size > 0 ? { path: join(this.dir, liveName(key)), size } : null;
  }

  /** Whether this process is still writing the log: then nothing about it is final yet. */
  writing(key: LogKey): boolean {
    const log = this.logs.get(liveName(key));
    return !!log && !log.waiting;
  }

  /**
   * Calls `listener` with each piece written to the log (at its offset in the file; the buffer is the
   * agent's message, fresh per message, so a follower may keep it), and with null once the log is stored.
   * A follower that reads the live file says how far it has got (`readTo`): what it has yet to read is
   * kept in the page cache for it (see DropBehind), and it drops what it has read.
   */
  watch(key: LogKey, listener: (written: Written | null) => void, readTo?: () => number): () => void {
    return this.followers.add(liveName(key), listener, readTo);
  }

  /** How far every follower reading the log's file has read it (infinity with none). */
  readByAll(key: LogKey): number {
    return this.followers.slowestReader(liveName(key));
  }

  /** Forgets an ended attempt's logs; one that never finished stays as a partial file for inspection. */
  release(key: LogKey): void {
    const name = liveName(key);
    this.finalized.delete(name);
    this.failed.delete(name);
    const log = this.logs.get(name);
    // an upload in flight keeps its entry until it settles; its fd is already closed (a second close
    // would fail with EBADF, or close whatever file reused the number)
    if (log && !log.waiting && !log.uploading) {
      log.reservation.release(log.written);
      closeLiveLog(log);
      this.logs.delete(name);
    }
  }
}
