/**
 * Archive uploads in flight, per agent. When an agent's lease lapses, its
 * uploads are aborted: a dead machine's connection may never close by itself,
 * and the half-written object must not wait for it (the store then drops it).
 */
export class Uploads {
  private readonly byAgent = new Map<string, Set<AbortController>>();

  /** The body, failing as soon as the agent's uploads are aborted; call `done` when the upload ends. */
  track(agentId: string, body: ReadableStream<Uint8Array>): { body: ReadableStream<Uint8Array>; done: () => void } {
    const control = new AbortController();
    const set = this.byAgent.get(agentId) ?? new Set();
    set.add(control);
    this.byAgent.set(agentId, set);
    const aborted = new Promise<never>((_, reject) => {
      control.signal.addEventListener("abort", () => reject(control.signal.reason));
    });
    aborted.catch(() => {});
    const reader = body.getReader();
    const tracked = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await Promise.race([reader.read(), aborted]);
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    const done = () => {
      set.delete(control);
      if (set.size === 0) this.byAgent.delete(agentId);
    };
    return { body: tracked, done };
  }

  abortAll(agentId: string, reason: string): number {
    const set = this.byAgent.get(agentId);
    if (!set) return 0;
    for (const control of set) control.abort(new Error(reason));
    this.byAgent.delete(agentId);
    return set.size;
  }
}
