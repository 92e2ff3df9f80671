import type { TaskSpec } from "../../shared/pipeline/index.ts";

/** Attempts waiting for the same kind of agent: what an autoscaler sizes a pool by. */
export interface QueueBucket {
  /** the executor group asked for, or "any" */
  group: string;
  /** the arch asked for, or "any" */
  arch: string;
  labels: Record<string, string>;
  queued: number;
  oldestAgeSeconds: number;
}

export interface Waiting {
  spec: TaskSpec;
  readyAt: number;
}

/** Groups waiting attempts by group, arch and (unless `byLabels` is false) labels, largest bucket first. */
export function queueDepth(waiting: Iterable<Waiting>, { byLabels = true, now = Date.now() } = {}): QueueBucket[] {
  const buckets = new Map<string, QueueBucket>();
  for (const { spec, readyAt } of waiting) {
    const group = spec.group ?? "any";
    const arch = spec.arch ?? "any";
    const labels = byLabels ? Object.fromEntries(Object.entries(spec.labels).sort(([a], [b]) => (a < b ? -1 : 1))) : {};
    const key = JSON.stringify([group, arch, labels]);
    const age = Math.max(0, (now - readyAt) / 1000);
    const bucket = buckets.get(key);
    if (bucket) {
      bucket.queued++;
      bucket.oldestAgeSeconds = Math.max(bucket.oldestAgeSeconds, age);
    } else buckets.set(key, { group, arch, labels, queued: 1, oldestAgeSeconds: age });
  }
  return [...buckets.values()].sort((a, b) => b.queued - a.queued || b.oldestAgeSeconds - a.oldestAgeSeconds);
}
