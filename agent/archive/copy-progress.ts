/**
 * Which entries of a kept copy still being written (a prefetch) are on disk, so that a restore moves each
 * one as soon as it is, rather than waiting for the whole copy.
 */
export class CopyProgress {
  private readonly onDisk: boolean[] = [];
  private ended = false;
  private waiting: (() => void)[] = [];

  /** Entry `index` is on disk, as it will be checked. */
  written(index: number): void {
    this.onDisk[index] = true;
    this.wake();
  }

  /** No more entries come (the copy is complete, or failed). */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** True once entry `index` is on disk; false when the copy ended without it. */
  async ready(index: number): Promise<boolean> {
    while (!this.onDisk[index]) {
      if (this.ended) return false;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    return true;
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
}
