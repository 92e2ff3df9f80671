import type { LogUploadRefusal } from "../../shared/protocol/log-upload.ts";

export class LogGapError extends Error {}

/** An upload of a log refused before any of it was written (see shared/protocol/log-upload.ts). */
export class LogUploadRefusedError extends Error {
  constructor(
    readonly reason: LogUploadRefusal,
    readonly stored: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The coordinator's disk is full (or the data dir's quota spent): the bytes were not stored and not
 * acknowledged. The step's live log is given up; the attempt fails saying why.
 */
export class DiskFullError extends Error {
  constructor(cause: unknown) {
    super(`coordinator out of disk space: ${(cause as Error).message}`, { cause });
  }
}

export const isDiskFull = (e: unknown) => ["ENOSPC", "EDQUOT"].includes((e as NodeJS.ErrnoException).code ?? "");
