import type { Context } from "hono";
import { z } from "zod";
import { DroverError } from "../../shared/errors.ts";

export function invalid(error: z.ZodError): DroverError {
  return new DroverError("bad_request", z.prettifyError(error));
}

/** The JSON body checked against a schema; every problem becomes one 400. */
export async function parseBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const raw = await c.req.json().catch(() => {
    throw new DroverError("bad_request", "body is not JSON");
  });
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
