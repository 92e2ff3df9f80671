import { and, desc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { DroverError } from "../../shared/errors.ts";
import { stampsStream } from "../../shared/protocol/index.ts";
import { attempts, steps, tasks } from "../db/schema.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";
import { logStream } from "../runs/log-follow.ts";
import { FORWARDED_HEADER, logElsewhere } from "../cluster/log-forward.ts";
import { parseQuery } from "./validate.ts";

const LogQuery = z.object({
  attempt: z
    .string()
    .regex(/^[1-9]\d{0,5}$/, "attempt is a number from 1")
    .transform(Number)
    .optional(),
  follow: z.string().optional(),
  offset: z
    .string()
    .regex(/^\d{1,15}$/, "offset is a byte offset (0, 1, 2…)")
    .transform(Number)
    .optional(),
  timestamps: z.enum(["1", "true"], { message: "timestamps is 1 or true" }).optional(),
});

export const logRoutes = new Hono<AppEnv>();

logRoutes.get("/:id/tasks/:task/steps/:index/log", requireRole("viewer"), async (c) => {
  const services = c.get("services");
  const { id, task: taskName, index } = c.req.param();
  const { attempt: number, timestamps, offset } = parseQuery(c, LogQuery);
  if (!/^\d{1,6}$/.test(index)) throw new DroverError("bad_request", `step ${index} is not a step index (0, 1, 2…)`);
  const step = Number(index);
  const [task] = await services.db
    .select({ id: tasks.id })
    .from(tasks)
    .where(and(eq(tasks.runId, id), eq(tasks.name, taskName)));
  if (!task) throw notFound(`task ${taskName} of run ${id}`);
  const [attempt] = await services.db
    .select({ id: attempts.id, number: attempts.number })
    .from(attempts)
    .where(and(eq(attempts.taskId, task.id), number === undefined ? undefined : eq(attempts.number, number)))
    .orderBy(desc(attempts.number))
    .limit(1);
  if (!attempt) throw notFound(`attempt ${number ?? "(latest)"} of task ${taskName}`);
  const [known] = await services.db
    .select({ index: steps.index })
    .from(steps)
    .where(and(eq(steps.attemptId, attempt.id), eq(steps.index, step)));
  if (!known) throw notFound(`step ${step} of task ${taskName}`);
  // the step's timestamps stream instead of its log: `offset ms` lines, see STAMPS_STREAM
  const key = { run: id, attempt: attempt.id, step: timestamps ? stampsStream(step) : step };
  // a running step's log is written on the node its agent is connected to: asked of another node on a
  // caller's behalf, this node answers only with a log it has live, and asks no further
  const forwarded = c.req.header(FORWARDED_HEADER) !== undefined;
  if (forwarded && !services.logs.live(key)) throw notFound(`a live log of step ${step} on this node`);
  const follow = c.req.query("follow") === "1" || c.req.query("follow") === "true";
  const elsewhere = forwarded
    ? null
    : logElsewhere(services, { run: id, attemptId: attempt.id, task: taskName, attempt: attempt.number, step, timestamps: !!timestamps }, c.get("credential"));
  const body = logStream(services, key, { follow, offset, elsewhere });
  const headers = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };
  // a followed log is not compressed: gzip would hold lines back until its buffer fills
  if (!follow && /\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
    return c.body(body.pipeThrough(new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>), 200, {
      ...headers,
      "content-encoding": "gzip",
      vary: "accept-encoding",
    });
  }
  return c.body(body, 200, headers);
});
