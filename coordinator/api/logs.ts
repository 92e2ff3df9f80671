import { and, desc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { attempts, tasks } from "../db/schema.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";
import { logStream } from "./log-stream.ts";

export const logRoutes = new Hono<AppEnv>();

logRoutes.get("/:id/tasks/:task/steps/:index/log", requireRole("viewer"), async (c) => {
  const services = c.get("services");
  const { id, task: taskName } = c.req.param();
  const step = Number(c.req.param("index"));
  const [task] = await services.db
    .select({ id: tasks.id })
    .from(tasks)
    .where(and(eq(tasks.runId, id), eq(tasks.name, taskName)));
  if (!task) throw notFound(`task ${taskName} of run ${id}`);
  const number = c.req.query("attempt");
  const [attempt] = await services.db
    .select({ id: attempts.id })
    .from(attempts)
    .where(and(eq(attempts.taskId, task.id), number ? eq(attempts.number, Number(number)) : undefined))
    .orderBy(desc(attempts.number))
    .limit(1);
  if (!attempt) throw notFound(`attempt ${number ?? "(latest)"} of task ${taskName}`);
  if (!Number.isInteger(step) || step < 0) throw notFound(`step ${c.req.param("index")}`);
  const follow = c.req.query("follow") === "1" || c.req.query("follow") === "true";
  const body = logStream(services, { run: id, attempt: attempt.id, step }, follow);
  const headers = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };
  // a followed log is not compressed: gzip would hold lines back until its buffer fills
  if (!follow && /\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
    return c.body(body.pipeThrough(new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>), 200, { ...headers, "content-encoding": "gzip", vary: "accept-encoding" });
  }
  return c.body(body, 200, headers);
});
