/**
 * Archive uploads in flight, per agent. When an agent's lease lapses, its
 * uploads are aborted: a dead machine's connection may never close by itself,
 * and the half-written object must not wait for it (the store then drops it).
 */
export class Uploads {
  private readonly byAgent = new Map<string, Set<AbortController>>();

  /** A signal aborted when the agent's uploads are; call `done` when the upload ends. */
  track(agentId: string): { signal: AbortSignal; done: () => void } {
    const control = new AbortController();
    const set = this.byAgent.get(agentId) ?? new Set();
    set.add(control);
    this.byAgent.set(agentId, set);
    const done = () => {
      set.delete(control);
      if (set.size === 0) this.byAgent.delete(agentId);
    };
    return { signal: control.signal, done };
  }

  abortAll(agentId: string, reason: string): number {
    const set = this.byAgent.get(agentId);
    if (!set) return 0;
    for (const control of set) control.abort(new Error(reason));
    this.byAgent.delete(agentId);
    return set.size;
  }
}
