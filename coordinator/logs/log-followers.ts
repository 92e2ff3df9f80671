/** Bytes just written to a live log, at `offset` in it; none in hand when they were written natively (an upload). */
export interface Written {
  offset: number;
  data: Uint8Array;
}

/**
 * Who follows each live log (by its file's name): the listeners told of each piece written, and where those
 * that read the log's file have got to in it (what they have yet to read is kept in the page cache for them).
 */
export class LogFollowers {
  private readonly listeners = new Map<string, Set<(written: Written | null) => void>>();
  private readonly readers = new Map<string, Set<() => number>>();

  /** Adds a follower, and where it has read to when it reads the file; returns what removes it. */
  add(name: string, listener: (written: Written | null) => void, readTo?: () => number): () => void {
    const unlisten = joinSet(this.listeners, name, listener);
    const unread = readTo ? joinSet(this.readers, name, readTo) : () => {};
    return () => {
      unlisten();
      unread();
    };
  }

  notify(name: string, written: Written | null): void {
    for (const l of this.listeners.get(name) ?? []) l(written);
  }

  /** Where the reader furthest behind in the log's file is; infinity when none reads it. */
  slowestReader(name: string): number {
    let slowest = Number.POSITIVE_INFINITY;
    for (const at of this.readers.get(name) ?? []) slowest = Math.min(slowest, at());
    return slowest;
  }
}

/** Adds `member` to the set under `name`; returns what takes it out again (and the set once empty). */
function joinSet<T>(sets: Map<string, Set<T>>, name: string, member: T): () => void {
  const set = sets.get(name) ?? new Set();
  set.add(member);
  sets.set(name, set);
  return () => {
    set.delete(member);
    if (set.size === 0) sets.delete(name);
  };
}
