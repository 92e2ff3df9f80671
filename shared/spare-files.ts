import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";

/** enough for two steps starting at once on an agent (each takes three) */
const KEEP = 6;
const MAKING_AT_ONCE = 4;

/**
 * Empty files made ahead, off the event loop, and renamed into place when a step starts. Making a file costs
 * 0.15–0.3 ms on an ext4 disk (its journal), a rename a few µs, and a step starts three of them (its watchdog
 * record, its output, its script) before its first process runs: that was a fifth of the agent's part of a
 * task's dispatch. The spares live in the agent's private dir, on the work dir's disk as the files they become.
 * The coordinator makes its step logs' live files of them too (`create`).
 */
export class SpareFiles {
  private readonly spares: string[] = [];
  private made = 0;
  /** spares being made now */
  private making = 0;

  constructor(
    private readonly dir: string,
    /** how many are kept ready */
    private readonly keep = KEEP,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // an earlier run's spares are as good as new ones
    for (const name of readdirSync(dir)) this.spares.push(join(dir, name));
  }

  /** Makes `path` a new empty file, readable and writable by this process's user alone (an existing one is replaced). */
  take(path: string): void {
    const spare = this.spares.pop();
    this.refill();
    if (spare) {
      try {
        renameSync(spare, path);
        return;
      } catch {
        // gone, or on another disk: made here instead
      }
    }
    closeSync(openSync(path, "w", 0o600));
  }

  /** Makes `path` a new empty file unless there is one (then it is left as it is). */
  create(path: string): void {
    if (!existsSync(path)) this.take(path);
  }

  private refill(): void {
    // a few made at once: each waits on the disk's journal more than it works, and the thread pool has several threads
    while (this.making < MAKING_AT_ONCE && this.spares.length + this.making < this.keep) void this.makeOne();
  }

  private async makeOne(): Promise<void> {
    this.making++;
    try {
      const path = join(this.dir, `${process.pid}-${this.made++}`);
      await (await open(path, "w", 0o600)).close();
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
