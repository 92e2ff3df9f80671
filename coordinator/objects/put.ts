import { DroverError } from "../../shared/errors.ts";
import { type ObjectStore, ObjectTooLargeError, type PutOptions, type PutResult } from "../store/object-store.ts";

/** Stores a streamed body, turning storage failures into errors the agent can act on. */
export async function putStream(
  store: ObjectStore,
  key: string,
  body: ReadableStream<Uint8Array> | null,
  opts: Omit<PutOptions, "maxBytes"> = {},
): Promise<PutResult> {
  if (!body) throw new DroverError("bad_request", "the request has no body");
  try {
    return await store.put(key, body, opts);
  } catch (e) {
    if (e instanceof ObjectTooLargeError) throw new DroverError("too_large", e.message);
    throw new DroverError("storage_error", `storing ${key} failed: ${(e as Error).message}`);
  }
}
