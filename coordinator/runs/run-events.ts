type Listener = () => void;

/** Wakes whoever watches a run (event streams, CLI followers) when its state changed. */
export class RunEvents {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly global = new Set<Listener>();

  publish(runId: string): void {
    for (const l of this.listeners.get(runId) ?? []) l();
    for (const l of this.global) l();
  }

  subscribe(runId: string | null, listener: Listener): () => void {
    if (runId === null) {
      this.global.add(listener);
      return () => this.global.delete(listener);
    }
    const set = this.listeners.get(runId) ?? new Set();
    set.add(listener);
    this.listeners.set(runId, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(runId);
    };
  }
}
