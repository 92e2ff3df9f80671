import { FINAL_RUN_PHASES } from "../engine/types.ts";

/** Small text helpers the pages share; browser/common.mjs has the same `duration` so live values read alike. */

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** A span of time, still growing when it has no end. */
export function span(start: number | null, end: number | null, now = Date.now()): string {
  return start ? duration((end ?? now) - start) : "";
}

export function ago(at: number | null, now = Date.now()): string {
  if (!at) return "never";
  const s = Math.round((now - at) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

export const isoTime = (at: number | null) => (at ? new Date(at).toISOString() : "");

export const ACTIVE_PHASES = ["queued", "running"];
export const FINAL_PHASES = [...FINAL_RUN_PHASES];

/** URL-safe path segment: matrix task names hold brackets, '=' and ','. */
export const seg = (s: string | number) => encodeURIComponent(String(s));
