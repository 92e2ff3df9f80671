import { Hono } from "hono";
import { approveTask, cancelRun, rerunTask, restartRun } from "../runs/run-actions.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { summarize } from "../runs/run-view.ts";
import { parseBody } from "./validate.ts";
import { RestartRun } from "./openapi/requests.ts";

export const runActionRoutes = new Hono<AppEnv>();

runActionRoutes.post("/:id/cancel", requireRole("member"), async (c) => {
  const { scheduler } = c.get("services");
  await cancelRun(scheduler, c.req.param("id"));
  // who asked: the run page says "Cancelled by …"
  await scheduler.serial.run(() => scheduler.appendEvent(c.req.param("id"), "cancel", { user: c.get("principal").user }));
  return c.json({ id: c.req.param("id"), cancelRequested: true }, 202);
});

runActionRoutes.post("/:id/restart", requireRole("member"), async (c) => {
  const { from } = await parseBody(c, RestartRun);
  const { db, scheduler, registry } = c.get("services");
  const run = await restartRun(db, scheduler, registry, c.req.param("id"), from, c.get("principal").user);
  return c.json(summarize(run), 201);
});

runActionRoutes.post("/:id/tasks/:task/approve", requireRole("member"), async (c) => {
  const { db, scheduler } = c.get("services");
  const approvers = await approveTask(db, scheduler, c.req.param("id"), c.req.param("task"), c.get("principal").user);
  return c.json({ task: c.req.param("task"), approvers });
});

runActionRoutes.post("/:id/tasks/:task/rerun", requireRole("member"), async (c) => {
  const { db, scheduler } = c.get("services");
  await rerunTask(db, scheduler, c.req.param("id"), c.req.param("task"));
  return c.json({ task: c.req.param("task"), rerun: true }, 202);
});
