import type { Server } from "bun";
import { Hono } from "hono";
import { DroverError } from "../../shared/errors.ts";
import { streamStep } from "../../shared/protocol/index.ts";
import type { LogUploaded, LogUploadRefused } from "../../shared/protocol/log-upload.ts";
import { DiskFullError, LogUploadRefusedError } from "../logs/log-errors.ts";
import { logUploads } from "../metrics/registry.ts";
import { ownAttempt } from "./archive-targets.ts";
import type { AppEnv } from "./env.ts";
import { nonNegativeInteger } from "./validate.ts";

/** A request told to time out closes within Bun's timer granularity (a few seconds), even mid-body. */
const ABORT_AFTER_S = 1;

const refused = (details: LogUploadRefused, message: string) => new DroverError("conflict", message, details);

export const agentLogRoutes = new Hono<AppEnv>();

/**
 * A step's log streamed as one upload (docs/protocol.md, "Logs"): written into the live file natively,
 * acknowledged over the agent's WebSocket as it is stored. Only on the node holding that WebSocket (the acks
 * go there); the upload is aborted should the agent's lease lapse meanwhile.
 */
agentLogRoutes.put("/attempts/:attempt/logs/:step", async (c) => {
  const found = ownAttempt(c);
  const step = nonNegativeInteger("step", c.req.param("step"));
  const offset = nonNegativeInteger("offset", c.req.query("offset"));
  if (streamStep(step) >= found.task.spec.steps.length)
    throw new DroverError("bad_request", `attempt ${found.attempt.id} has no step ${step}`);
  const services = c.get("services");
  const key = { run: found.active.run.id, attempt: found.attempt.id, step };
  const agentId = found.attempt.agentId!;
  if (!services.fleet.agents.get(agentId)?.socket) {
    logUploads.inc({ outcome: "elsewhere" });
    throw refused({ reason: "elsewhere", stored: services.logs.stored(key) }, "the agent's connection is not on this node");
  }
  const ack = (stored: number) =>
    services.fleet.agents.get(agentId)?.socket?.send({ type: "log_ack", attempt: key.attempt, step, stored });
  const upload = services.fleet.uploads.track(agentId);
  const abort = () => (c.env as Server<unknown> | undefined)?.timeout(c.req.raw, ABORT_AFTER_S);
  upload.signal.addEventListener("abort", abort, { once: true });
  try {
    const stored = await services.logs.receive(key, offset, c.req.raw.body ?? new ReadableStream(), ack);
    logUploads.inc({ outcome: "written" });
    return c.json({ stored } satisfies LogUploaded);
  } catch (e) {
    if (e instanceof LogUploadRefusedError) {
      logUploads.inc({ outcome: e.reason });
      throw refused({ reason: e.reason, stored: e.stored }, e.message);
    }
    logUploads.inc({ outcome: "broken" });
    // the agent sends the rest in chunks, whose write meets the full disk and fails the attempt saying why
    if (e instanceof DiskFullError) throw new DroverError("storage_error", e.message);
    throw e;
  } finally {
    upload.signal.removeEventListener("abort", abort);
    upload.done();
  }
});
