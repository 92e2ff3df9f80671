import { durationToMs } from "../../shared/pipeline/index.ts";

/** How long each kind of object is kept; all configurable through DROVER_RETENTION_<KIND> (e.g. `30d`). */
export interface Retention {
  logs: number;
  workspaces: number;
  caches: number;
  artifacts: number;
  unowned: number;
}

const DAY = 24 * 3600 * 1000;
export const DEFAULT_RETENTION: Retention = { logs: 30 * DAY, workspaces: 7 * DAY, caches: 7 * DAY, artifacts: 30 * DAY, unowned: DAY / 2 };

export function retentionFromEnv(env: Record<string, string | undefined>): Retention {
  const pick = (name: keyof Retention) => {
    const raw = env[`DROVER_RETENTION_${name.toUpperCase()}`];
    if (raw === undefined) return DEFAULT_RETENTION[name];
    const ms = durationToMs(raw);
    if (ms === null) throw new Error(`DROVER_RETENTION_${name.toUpperCase()}=${raw} is not a duration like 30d, 12h or 0s`);
    return ms;
  };
  return { logs: pick("logs"), workspaces: pick("workspaces"), caches: pick("caches"), artifacts: pick("artifacts"), unowned: pick("unowned") };
}
