import { type Context, Hono } from "hono";
import { DroverError } from "../../shared/errors.ts";
import {
  multipartStartSchema,
  type UploadPlan,
  type UploadTarget,
  uploadAbortSchema,
  uploadCompleteSchema,
  uploadRequestSchema,
  uploadUrlRequestSchema,
} from "../../shared/protocol/archive-api.ts";
import { archiveBytesDirect } from "../metrics/registry.ts";
import { type DirectTransfers, maxParts } from "../store/direct.ts";
import { cacheGroupOf, findCache, objectOf, type OwnAttempt, ownAttempt, recordUpload } from "./archive-targets.ts";
import type { AppEnv } from "./env.ts";
import { parseBody } from "./validate.ts";

/** The store's presigned transfers; only an agent told to send to the bucket asks for them. */
function directOf(c: Context<AppEnv>): DirectTransfers {
  const direct = c.get("services").store.direct;
  if (!direct) throw new DroverError("conflict", "this coordinator's store takes uploads streamed to the coordinator, not by presigned URLs");
  return direct;
}

function checkTotal(direct: DirectTransfers, object: string, size: number) {
  if (size > direct.maxBytes) throw new DroverError("too_large", `${object} is ${size} bytes, more than the limit of ${direct.maxBytes} bytes`);
}

/** A cache of the target's key saved already (caches are immutable, so there is nothing to upload). */
const savedCache = (c: Context<AppEnv>, found: OwnAttempt, target: UploadTarget) =>
  target.kind === "cache" ? findCache(c.get("services").db, cacheGroupOf(found), target.key, false) : undefined;

const bucketStatus = (e: unknown) => (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;

/** Bucket errors the agent caused (a wrong part list, an unknown upload id) are its 400s; the rest are the store's. */
async function inBucket<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const status = bucketStatus(e);
    const code = status >= 400 && status < 500 ? "bad_request" : "storage_error";
    throw new DroverError(code, `${what} failed: ${(e as Error).message}`);
  }
}

/**
 * Every URL that lets an agent write a key is handed out only once the key has a registry row: an
 * upload never reported complete is then deleted by the unowned collector, like any object nobody owns.
 */
async function reserve(c: Context<AppEnv>, target: UploadTarget, object: string) {
  await c.get("services").registry.reserve(object, target.kind);
}

async function signPut(c: Context<AppEnv>, target: UploadTarget, object: string, size: number) {
  const direct = directOf(c);
  checkTotal(direct, object, size);
  await reserve(c, target, object);
  return direct.putUrl(object, size);
}

export const agentUploadRoutes = new Hono<AppEnv>();

/** The negotiation: stream to this node, or send to the bucket (with the single PUT's URL when the size is known and fits). */
agentUploadRoutes.post("/attempts/:attempt/uploads", async (c) => {
  const found = ownAttempt(c);
  const { target, size } = await parseBody(c, uploadRequestSchema);
  const direct = c.get("services").store.direct;
  if (!direct) return c.json({ via: "coordinator" } satisfies UploadPlan);
  const object = objectOf(found, target);
  if (await savedCache(c, found, target)) return c.json({ via: "exists" } satisfies UploadPlan);
  if (size !== undefined) checkTotal(direct, object, size);
  const url = size !== undefined && size <= direct.partSize ? await signPut(c, target, object, size) : undefined;
  const { partSize, maxBytes, urlTtlSeconds } = direct;
  return c.json({ via: "bucket", object, partSize, maxParts: maxParts(direct), maxBytes, urlTtlSeconds, url } satisfies UploadPlan);
});

agentUploadRoutes.post("/attempts/:attempt/uploads/multipart", async (c) => {
  const found = ownAttempt(c);
  const direct = directOf(c);
  const { target } = await parseBody(c, multipartStartSchema);
  const object = objectOf(found, target);
  await reserve(c, target, object);
  return c.json({ uploadId: await inBucket(`starting the upload of ${object}`, () => direct.startMultipart(object)) }, 201);
});

/** One URL per request, so a URL is signed only when the agent is about to use it and dies with its attempt soon after. */
agentUploadRoutes.post("/attempts/:attempt/uploads/url", async (c) => {
  const found = ownAttempt(c);
  const direct = directOf(c);
  const { target, size, part } = await parseBody(c, uploadUrlRequestSchema);
  const object = objectOf(found, target);
  if (size > direct.partSize) {
    throw new DroverError("too_large", `a single PUT or one part carries at most ${direct.partSize} bytes (the store's part size), not ${size}`);
  }
  if (!part) return c.json({ url: await signPut(c, target, object, size) });
  const most = maxParts(direct);
  if (part.number > most) {
    throw new DroverError(
      "too_large",
      `part ${part.number} of ${object} is past the ${most} parts of ${direct.partSize} bytes that the object size limit of ${direct.maxBytes} bytes allows`,
    );
  }
  return c.json({ url: await direct.partUrl(object, part.uploadId, part.number, size) });
});

/** Records the upload once the bucket has it whole at the size the agent reports; anything else is dropped. */
agentUploadRoutes.post("/attempts/:attempt/uploads/complete", async (c) => {
  const found = ownAttempt(c);
  const direct = directOf(c);
  const services = c.get("services");
  const { target, size, sha256, multipart } = await parseBody(c, uploadCompleteSchema);
  const object = objectOf(found, target);
  // what is dropped is dropped now, not only when the collector comes by
  const drop = () => (multipart ? direct.abortMultipart(object, multipart.uploadId) : services.store.delete(object));
  if (size > direct.maxBytes) {
    await drop();
    checkTotal(direct, object, size);
  }
  const saved = await savedCache(c, found, target);
  if (saved) {
    // this very upload, recorded by an earlier try of this request whose answer was lost
    if (saved.object === object) return c.json({ stored: true }, 201);
    await drop();
    return c.json({ stored: false }, 200);
  }
  if (multipart) {
    const numbers = multipart.parts.map((p) => p.part);
    if (numbers.some((n, i) => n !== i + 1)) throw new DroverError("bad_request", `the parts of ${object} must be numbered 1 to ${numbers.length} in order`);
    await inBucket(`completing the upload of ${object}`, async () => {
      try {
        await direct.completeMultipart(object, multipart.uploadId, multipart.parts);
      } catch (e) {
        // completed by an earlier try of this request (through this node or another) whose answer was lost
        if (bucketStatus(e) === 404 && (await services.store.stat(object))?.size === size) return;
        throw e;
      }
    });
  }
  const stat = await services.store.stat(object);
  if (!stat) throw new DroverError("bad_request", `${object} is not in the bucket: upload it before reporting it complete`);
  if (stat.size !== size) {
    await services.store.delete(object);
    throw new DroverError("bad_request", `${object} is ${stat.size} bytes in the bucket but the agent reported ${size}: dropped`);
  }
  archiveBytesDirect.inc({ direction: "up" }, size);
  const { status, body } = await recordUpload(services, found, target, { size, sha256 });
  return c.json(body, status);
});

agentUploadRoutes.post("/attempts/:attempt/uploads/abort", async (c) => {
  const found = ownAttempt(c);
  const direct = directOf(c);
  const { target, uploadId } = await parseBody(c, uploadAbortSchema);
  const object = objectOf(found, target);
  await inBucket(`aborting the upload of ${object}`, () => direct.abortMultipart(object, uploadId));
  return c.body(null, 204);
});
