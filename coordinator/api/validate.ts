import type { Context } from "hono";
import { z } from "zod";
import { readBounded } from "../../shared/bounded-body.ts";
import { DroverError } from "../../shared/errors.ts";
import { formatBytes } from "../../shared/format.ts";

export function invalid(error: z.ZodError): DroverError {
  return new DroverError("bad_request", z.prettifyError(error));
}

/** What a JSON body may hold at most, unless its route says more: a request's fields, not data. */
const JSON_BODY_BYTES = 1024 * 1024;
/** A body that carries a pipeline (1 MiB) and variables (200 of up to 64 KiB): a run's submission, a schedule, a hook. */
export const SUBMISSION_BODY_BYTES = 16 * 1024 * 1024;

/** The body as text, refused with a 413 naming `what` and `maxBytes` past that many bytes, read no further (readBounded). */
export async function boundedText(c: Context, maxBytes: number, what: string): Promise<string> {
  const body = await readBounded(c.req.raw, maxBytes, () => new DroverError("too_large", `${what} may be at most ${formatBytes(maxBytes)}`));
  return new TextDecoder().decode(body);
}

/** The JSON body, at most `maxBytes` of it (else a 413 naming `what`); a 400 when it is not JSON. */
export async function readJson(c: Context, maxBytes: number, what: string): Promise<unknown> {
  const text = await boundedText(c, maxBytes, what);
  try {
    return JSON.parse(text);
  } catch {
    throw new DroverError("bad_request", "body is not JSON");
  }
}

/** The JSON body (at most `maxBytes`, else 413) checked against a schema; every problem becomes one 400. */
export async function parseBody<T extends z.ZodType>(c: Context, schema: T, maxBytes = JSON_BODY_BYTES): Promise<z.infer<T>> {
  const raw = await readJson(c, maxBytes, "this request's JSON body");
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw invalid(parsed.error);
  return parsed.data;
}

/** A non-negative integer from the path or query (a step's index, an offset), or a 400 naming `what`. */
export function nonNegativeInteger(what: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || raw === "" || !Number.isSafeInteger(n) || n < 0)
    throw new DroverError("bad_request", `${what} must be a non-negative integer, got ${raw}`);
  return n;
}

export function parseQuery<T extends z.ZodType>(c: Context, schema: T): z.infer<T> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) throw invalid(parsed.error);
  return parsed.data;
}
