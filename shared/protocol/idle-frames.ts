/**
 * The coordinator's frames an idle agent reads (its welcome, lease renewals) and the most frequent one of a
 * busy agent (log acks), typed and checked here by hand instead of with zod: loading zod and building the
 * protocol's schemas costs an agent about 17 MiB of its RSS, which an idle agent should not pay. The other
 * frames are checked by the schemas of coordinator-messages.ts, loaded at the first of them.
 */

export interface Welcome {
  type: "welcome";
  agentId: string;
  credential?: string;
  heartbeatMs: number;
  /**
   * When to send the first heartbeat, in ms after the welcome (then every `heartbeatMs`): the coordinator lines its
   * agents' heartbeats up on a few instants a second. Optional: without it the first comes `heartbeatMs` after.
   */
  firstHeartbeatMs?: number;
  leaseTtlMs: number;
  /**
   * The most one upload of a step's log may carry to this node: its log cap, within its request body cap. Absent
   * from older coordinators, whose agents upload 64 MiB at a time.
   */
  logUploadBytes?: number;
  /** for each attempt the agent listed: where to continue each step's log from, or abandon it */
  resume: { attempt: string; action: "continue" | "abandon"; steps: { index: number; stored: number }[] }[];
}

/**
 * The coordinator renewed the lease on the heartbeat numbered `seq`. The agent may run its steps until the time
 * it sent that heartbeat plus the lease TTL, and no longer: the coordinator re-queues its attempts only after the
 * renewal it recorded (later than the send) plus the TTL and a margin, so the two never run at once.
 */
export interface LeaseFrame {
  type: "lease";
  seq: number;
}

export interface LogAck {
  type: "log_ack";
  attempt: string;
  step: number;
  stored: number;
}

export type IdleFrame = Welcome | LeaseFrame | LogAck;

type Fields = Record<string, unknown>;
const isObject = (v: unknown): v is Fields => typeof v === "object" && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === "string";
const isInt = (v: unknown): v is number => Number.isInteger(v);

const isResumedStep = (s: unknown) => isObject(s) && isInt(s.index) && isInt(s.stored);
const isResumed = (r: unknown) =>
  isObject(r) && isString(r.attempt) && (r.action === "continue" || r.action === "abandon") && Array.isArray(r.steps) && r.steps.every(isResumedStep);

/** The frame if it is a well-formed idle frame; null for any other frame, well-formed or not. */
export function readIdleFrame(raw: unknown): IdleFrame | null {
  if (!isObject(raw)) return null;
  switch (raw.type) {
    case "lease":
      return isInt(raw.seq) && raw.seq >= 0 ? (raw as unknown as LeaseFrame) : null;
    case "log_ack":
      return isString(raw.attempt) && isInt(raw.step) && isInt(raw.stored) ? (raw as unknown as LogAck) : null;
    case "welcome":
      return isString(raw.agentId) &&
        (raw.credential === undefined || isString(raw.credential)) &&
        isInt(raw.heartbeatMs) &&
        (raw.firstHeartbeatMs === undefined || (isInt(raw.firstHeartbeatMs) && raw.firstHeartbeatMs >= 0)) &&
        isInt(raw.leaseTtlMs) &&
        (raw.logUploadBytes === undefined || (isInt(raw.logUploadBytes) && raw.logUploadBytes > 0)) &&
        Array.isArray(raw.resume) &&
        raw.resume.every(isResumed)
        ? (raw as unknown as Welcome)
        : null;
    default:
      return null;
  }
}

/** Whether a frame is of an idle frame's type (one that `readIdleFrame` refused is malformed, not unknown). */
export const isIdleFrameType = (type: unknown) => type === "welcome" || type === "lease" || type === "log_ack";
