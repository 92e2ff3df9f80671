import type { Report } from "../../shared/protocol/index.ts";

export interface ReportSender {
  send(report: Report): boolean;
}

/** Reports stay here until acknowledged, and go again, in order, after a reconnect. */
export class PendingReports {
  private readonly pending = new Map<string, Report>();
  private readonly waiters = new Map<string, () => void>();

  constructor(private readonly sender: ReportSender) {}

  /** Resolves when the coordinator acknowledged the report. */
  send(report: Report): Promise<void> {
    this.pending.set(report.id, report);
    const acked = new Promise<void>((resolve) => this.waiters.set(report.id, resolve));
    this.sender.send(report);
    return acked;
  }

  ack(id: string): void {
    this.pending.delete(id);
    this.waiters.get(id)?.();
    this.waiters.delete(id);
  }

  resendAll(): void {
    for (const report of this.pending.values()) this.sender.send(report);
  }

  /** Attempts with a report not yet acknowledged: the coordinator still counts them as this agent's. */
  attempts(): Set<string> {
    const ids = new Set<string>();
    for (const report of this.pending.values()) if ("attempt" in report) ids.add(report.attempt);
    return ids;
  }

  /** Drops everything about an attempt the coordinator told us to abandon. */
  dropAttempt(attempt: string): void {
    for (const [id, report] of this.pending) {
      if ("attempt" in report && report.attempt === attempt) this.ack(id);
    }
  }
}
