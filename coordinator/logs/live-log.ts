import { closeSync, openSync, statSync } from "node:fs";
import { isStampsStream, streamStep } from "../../shared/protocol/index.ts";
import { AppendReservation } from "../../shared/reserve-space.ts";
import { DropBehind } from "../store/drop-behind.ts";
import { offThreadCalls } from "../store/page-cache-calls.ts";

export interface LogKey {
  run: string;
  attempt: string;
  step: number;
}

/** `.log` for a step's output, `.stamps` for its timestamps stream */
const suffix = (step: number) => `${streamStep(step)}.${isStampsStream(step) ? "stamps" : "log"}`;
/** The name of a step's live log file. */
export const liveName = (k: LogKey) => `${k.attempt}-${suffix(k.step)}`;
export const logObjectKey = (k: LogKey) => `logs/${k.run}/${k.attempt}/${suffix(k.step)}`;
/** Where the timestamps of the step whose log is `logObject` are stored (if the agent sent any). */
export const stampsObjectOf = (logObject: string) => logObject.replace(/\.log$/, ".stamps");

export interface FinalLog {
  /** null for a log with no bytes: nothing is stored for it */
  object: string | null;
  size: number;
  sha256: string;
  firstByteAt: number | null;
}

/** A step's log being written on this node: its file and what is known of it. */
export interface LiveLog {
  name: string;
  path: string;
  fd: number;
  reservation: AppendReservation;
  /** what is written leaves the page cache: the log is read about once, and mostly as it is written */
  cache: DropBehind;
  written: number;
  /** bytes received from the agent (its offsets), including any dropped past the cap */
  received: number;
  firstByteAt: number | null;
  /** its fd is closed and its file on its way to storage: nothing may write to or close the fd again */
  uploading: boolean;
  /** an agent's upload being written into the file (settled or not): nothing else writes the log meanwhile */
  receiving: Promise<unknown> | null;
  /** the log's end, once known: every caller asking for it (a step's end sent again, say) shares its outcome */
  waiting: { size: number; stored: Promise<FinalLog>; resolve: (r: FinalLog) => void; reject: (e: unknown) => void } | null;
}

/** Opens the live log file at `path` for appending; one there already (a restarted coordinator's) is taken as it is. */
export function openLiveLog(name: string, path: string): LiveLog {
  const fd = openSync(path, "a");
  const size = statSync(path).size;
  return {
    name,
    path,
    fd,
    reservation: new AppendReservation(fd),
    cache: new DropBehind(offThreadCalls(fd)),
    received: size,
    written: size,
    firstByteAt: null,
    uploading: false,
    receiving: null,
    waiting: null,
  };
}

/** Closes the log's file: nothing is written to it or asked of its pages any more. */
export function closeLiveLog(log: LiveLog): void {
  log.cache.close();
  closeSync(log.fd);
}
