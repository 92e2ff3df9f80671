import type { Subprocess } from "bun";

/** flock(1)'s exit code when the lock could not be had within -w seconds. */
const TIMED_OUT = 75;

/**
 * An flock(2) lock on `path`, held by a small `flock` process for as long as it lives: the kernel
 * drops it when the holder exits, so a crashed agent never leaves a mirror locked, and two agents
 * sharing a mirrors dir exclude each other as two attempts of one agent do.
 */
export class FileLock {
  private constructor(private readonly holder: Subprocess<"pipe", "pipe", "ignore">) {}

  /** The exclusive lock, or null when it could not be had within `timeoutMs`; `signal` gives up waiting. */
  static async acquire(path: string, timeoutMs: number, signal?: AbortSignal): Promise<FileLock | null> {
    const gaveUp = () => new Error(`gave up waiting for ${path}: ${(signal!.reason as Error).message}`);
    // an abort that came before would never be heard: the wait would last its whole timeout
    if (signal?.aborted) throw gaveUp();
    const wait = String(timeoutMs / 1000);
    const holder = Bun.spawn(["flock", "-x", "-w", wait, "-E", String(TIMED_OUT), path, "sh", "-c", "echo locked; exec cat >/dev/null"], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "ignore",
    });
    const giveUp = () => holder.kill();
    signal?.addEventListener("abort", giveUp);
    try {
      const reader = holder.stdout.getReader();
      const { value } = await reader.read();
      reader.releaseLock();
      if (value && new TextDecoder().decode(value).startsWith("locked")) {
        if (!signal?.aborted) return new FileLock(holder);
        // the abort killed the holder as it took the lock, which went with it
        await holder.exited;
        throw gaveUp();
      }
    } finally {
      signal?.removeEventListener("abort", giveUp);
    }
    const code = await holder.exited;
    if (code === TIMED_OUT) return null;
    if (signal?.aborted) throw gaveUp();
    throw new Error(`cannot lock ${path} (flock exited with ${code})`);
  }

  /** Releases the lock: the holder's stdin closes, its `cat` ends, flock exits. */
  async release(): Promise<void> {
    await this.holder.stdin.end();
    await this.holder.exited;
  }
}
