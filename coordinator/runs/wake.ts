/**
 * A sleep that a signal can cut short: streams wait on it for news (a log
 * append, a state change) and still wake on their own after `ms` to look again.
 */
export class Wake {
  private resolve: (() => void) | null = null;

  signal = (): void => {
    this.resolve?.();
  };

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.resolve = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.resolve = done;
    });
  }
}
