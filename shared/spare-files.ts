import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { join } from "node:path";

/**
 * Enough for two steps starting at once on an agent (each takes four: its watchdog record, output, script and
 * timestamps, and a start file where its environment is large) while those taken are made again: with 6, a chain of
 * short steps found none left for its script in one step of six (made on its path instead, 0.15-1 ms each).
 */
const KEEP = 12;
const MAKING_AT_ONCE = 4;

/**
 * Empty files made ahead, off the event loop, and renamed into place when a step starts. Making a file costs
 * 0.15–1 ms on an ext4 disk (its journal), a rename 0.05–0.1 ms, and a step starts several of them (its watchdog
 * record, its output, its script, its log's timestamps) before its first output is read: that was a fifth of the
 * agent's part of a task's dispatch. The spares live in the agent's private dir, on the work dir's disk as the
 * files they become. The coordinator makes its step logs' live files of them too (`create`). With `kind` "dir"
 * they are empty directories instead (an attempt's work dir: mkdir costs as much as making a file, 15 ms at p99
 * under load).
 */
export class SpareFiles {
  private readonly spares: string[] = [];
  private made = 0;
  /** spares being made now */
  private making = 0;
  private refillScheduled = false;

  constructor(
    private readonly dir: string,
    /** how many are kept ready */
    private readonly keep = KEEP,
    private readonly kind: "file" | "dir" = "file",
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // an earlier run's spares are as good as new ones
    for (const name of readdirSync(dir)) this.spares.push(join(dir, name));
  }

  /** How many spares are ready to be taken now. */
  get ready(): number {
    return this.spares.length;
  }

  /**
   * Makes `path` a new empty file, readable and writable by this process's user alone (an existing one is replaced);
   * of a "dir" kind, a new empty directory of this user's alone (an existing one is kept as it is).
   */
  take(path: string): void {
    const spare = this.spares.pop();
    this.refillSoon();
    if (spare) {
      try {
        renameSync(spare, path);
        return;
      } catch {
        // gone, on another disk, or a directory there already: made here instead
      }
    }
    if (this.kind === "dir") mkdirSync(path, { recursive: true, mode: 0o700 });
    else closeSync(openSync(path, "w", 0o600));
  }

  /** Makes `path` a new empty file unless there is one (then it is left as it is). */
  create(path: string): void {
    if (!existsSync(path)) this.take(path);
  }

  /**
   * After what runs now: a step's start takes several spares in a row, and each making one holds the spare dir's lock
   * while it waits on the journal, which a rename out of that dir then waited for (a take 66-125 us p50 instead of 40).
   */
  private refillSoon(): void {
    if (this.refillScheduled) return;
    this.refillScheduled = true;
    setImmediate(() => {
      this.refillScheduled = false;
      this.refill();
    });
  }

  private refill(): void {
    // a few made at once: each waits on the disk's journal more than it works, and the thread pool has several threads
    while (this.making < MAKING_AT_ONCE && this.spares.length + this.making < this.keep) void this.makeOne();
  }

  private async makeOne(): Promise<void> {
    this.making++;
    try {
      const path = join(this.dir, `${process.pid}-${this.made++}`);
      if (this.kind === "dir") await mkdir(path, { mode: 0o700 });
      else await (await open(path, "w", 0o600)).close();
      this.spares.push(path);
    } catch {
      // a full disk or a removed dir: steps make their files themselves
      return;
    } finally {
      this.making--;
    }
    this.refill();
  }
}
