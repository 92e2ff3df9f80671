import { Counter, collectDefaultMetrics, Gauge as PromGauge, type GaugeConfiguration, Histogram, Registry } from "prom-client";
import type { QueueBucket } from "../dispatch/queue-depth.ts";

/** The coordinator's Prometheus metrics, served at /metrics. */
export const metrics = new Registry();
// The event loop's lag is sampled once a second: prom-client's default, 10 ms, woke an idle coordinator 100 times a
// second, a tenth of its idle CPU, and 100 ms still ten times (each wake-up costs the process 0.1-0.2 ms of CPU).
collectDefaultMetrics({ register: metrics, prefix: "drover_process_", eventLoopMonitoringPrecision: 1000 });

export const gcRemoved = new Counter({
  name: "drover_gc_removed_total",
  help: "Objects (or cache entries) removed by each garbage collector",
  labelNames: ["collector"] as const,
  registers: [metrics],
});

export const diskFull = new Counter({
  name: "drover_disk_full_total",
  help: "Writes the coordinator refused because its disk was full; each failed an attempt (what: log)",
  labelNames: ["what"] as const,
  registers: [metrics],
});

export const webhookDeliveries = new Counter({
  name: "drover_webhook_deliveries_total",
  help: "Forge webhook deliveries received, by forge and outcome (created, filtered, refused, …)",
  labelNames: ["forge", "outcome"] as const,
  registers: [metrics],
});

export const commitStatuses = new Counter({
  name: "drover_commit_statuses_total",
  help: "Commit statuses posted to forges: taken, or refused after its tries (each refused one is also a run event)",
  labelNames: ["forge", "result"] as const,
  registers: [metrics],
});

export const archiveBytesProxied = new Counter({
  name: "drover_archive_bytes_proxied_total",
  help: "Bytes of workspaces, caches and artifacts that went through this node between an agent and the store (up: stored, down: served); presigned transfers add nothing",
  labelNames: ["direction"] as const,
  registers: [metrics],
});

export const archiveBytesDirect = new Counter({
  name: "drover_archive_bytes_direct_total",
  help: "Bytes of workspaces, caches and artifacts that agents moved straight to or from the bucket by presigned URLs",
  labelNames: ["direction"] as const,
  registers: [metrics],
});

// both series exist from the start, so that "nothing went through" reads as 0 rather than as a missing line
for (const direction of ["up", "down"]) {
  archiveBytesProxied.inc({ direction }, 0);
  archiveBytesDirect.inc({ direction }, 0);
}

export const logBytes = new Counter({
  name: "drover_log_bytes_total",
  help: "Step log bytes stored",
  registers: [metrics],
});

export const logUploads = new Counter({
  name: "drover_log_uploads_total",
  help: "Step logs' HTTP uploads (docs/protocol.md, Logs) by outcome: written, broken (cut off; what reached the file counts), or the refusal's reason",
  labelNames: ["outcome"] as const,
  registers: [metrics],
});

export const queueWait = new Histogram({
  name: "drover_queue_wait_seconds",
  help: "Time from an attempt becoming ready to its assignment",
  buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 2, 10, 60, 600],
  registers: [metrics],
});

export const dispatchLatency = new Histogram({
  name: "drover_dispatch_latency_seconds",
  help: "Time from an attempt becoming ready to the first byte of its log being stored",
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
  registers: [metrics],
});

export interface StateSources {
  runsByPhase(): Promise<Record<string, number>>;
  tasksByStatus(): Record<string, number>;
  agentsByState(): Record<string, number>;
  queueLength(): number;
  /** buckets by group and arch only */
  queueDepth(): QueueBucket[];
}

/** Gauges are read from the live state when Prometheus scrapes, never kept in step by hand. */
export function registerStateGauges(sources: StateSources): void {
  // a process that starts a second coordinator (the in-process tests) reads the newest one's state
  const registered = new Set(metrics.getMetricsAsArray().map((m) => m.name));
  const Gauge = class<T extends string> extends PromGauge<T> {
    constructor(config: GaugeConfiguration<T>) {
      if (registered.has(config.name)) metrics.removeSingleMetric(config.name);
      super(config);
    }
  };
  const byLabel = (name: string, help: string, label: string, read: () => Promise<Record<string, number>> | Record<string, number>) =>
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [metrics],
      async collect() {
        this.reset();
        for (const [value, count] of Object.entries(await read())) this.set({ [label]: value }, count);
      },
    });
  byLabel("drover_runs", "Runs by phase", "phase", sources.runsByPhase);
  byLabel("drover_tasks", "Tasks of unfinished runs by status", "status", sources.tasksByStatus);
  byLabel("drover_agents", "Agents by state", "state", sources.agentsByState);
  new Gauge({
    name: "drover_queue_length",
    help: "Attempts waiting for an agent",
    registers: [metrics],
    collect() {
      this.set(sources.queueLength());
    },
  });
  // Per group and arch (labels left out: their combinations are unbounded), for autoscalers.
  const perPool = (name: string, help: string, value: (bucket: QueueBucket) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["group", "arch"] as const,
      registers: [metrics],
      collect() {
        this.reset();
        for (const bucket of sources.queueDepth()) this.set({ group: bucket.group, arch: bucket.arch }, value(bucket));
      },
    });
  perPool("drover_queue_depth", "Attempts waiting for an agent, by the executor group and arch they ask for", (b) => b.queued);
  perPool("drover_queue_oldest_seconds", "Age of the oldest attempt waiting, by executor group and arch", (b) => b.oldestAgeSeconds);
}

export const busHintsDropped = new Counter({
  name: "drover_bus_hints_dropped_total",
  help: "Malformed messages received on the NATS hint subjects, dropped",
  registers: [metrics],
});
