import { PROTOCOL_HEADER } from "../../shared/protocol/archive-api.ts";
import { PROTOCOL_VERSION } from "../../shared/protocol/version.ts";
import {
  type LogUploadRefusal,
  type LogUploadRefused,
  type LogUploaded,
  logUploadPath,
} from "../../shared/protocol/log-upload.ts";
import { socketRequest } from "../archive/socket-http.ts";
import { errorBody } from "../connection/files-error.ts";

/** Where a log may be uploaded now: the node the agent's WebSocket is on, as the agent. */
export interface LogUploadTarget {
  url: string;
  agentId: string;
  credential: string;
  ca: string | null;
  /** the most one upload may carry there, as that node's welcome said; none from an older coordinator */
  maxBytes?: number;
  /** aborted when that WebSocket closes: the upload goes with it, and the welcome after the reconnect says where to resume */
  connection: AbortSignal;
}

/** What came of an upload: the bytes stored, a refusal (and why), or no answer. */
export type LogUploadOutcome =
  | { stored: number }
  | { refused: LogUploadRefusal | "other"; stored: number | null; why: string }
  | { failed: Error; disconnected: boolean };

/**
 * Sends a step's log from `offset` on as one chunked PUT over a socket of its own (socket-http.ts:
 * no fetch machinery per chunk); `sent` hears of each piece the socket has taken, so its buffer can be
 * used again.
 */
export async function uploadLog(
  target: LogUploadTarget,
  log: { attempt: string; step: number; offset: number },
  body: ReadableStream<Uint8Array>,
  sent: (piece: Uint8Array) => void,
  abort: AbortSignal,
): Promise<LogUploadOutcome> {
  const signal = AbortSignal.any([target.connection, abort]);
  try {
    const answer = await socketRequest(`${target.url.replace(/\/$/, "")}${logUploadPath(log.attempt, log.step, log.offset)}`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${target.credential}`,
        "x-drover-agent": target.agentId,
        [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
        "content-type": "application/octet-stream",
      },
      body,
      sent,
      ca: target.ca,
      signal,
    });
    const text = await answer.text();
    if (answer.ok) return { stored: (JSON.parse(text) as LogUploaded).stored };
    const error = errorBody<{ message?: string; details?: Partial<LogUploadRefused> }>(text);
    const details = answer.status === 409 ? error?.details : undefined;
    return {
      refused: details?.reason ?? "other",
      stored: typeof details?.stored === "number" ? details.stored : null,
      why: `${answer.status} ${error?.message ?? text.slice(0, 200)}`,
    };
  } catch (e) {
    return { failed: e as Error, disconnected: signal.aborted };
  }
}
