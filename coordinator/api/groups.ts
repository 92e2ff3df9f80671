import { asc } from "drizzle-orm";
import { Hono } from "hono";
import { runGroups } from "../db/schema.ts";
import { requireRole } from "./auth.ts";
import { DroverError } from "../../shared/errors.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";
import { parseBody } from "./validate.ts";
import { GroupSettings, GroupValue } from "./openapi/requests.ts";

export const groupRoutes = new Hono<AppEnv>();

groupRoutes.get("/", requireRole("viewer"), async (c) => {
  const rows = await c.get("services").db.select().from(runGroups).orderBy(asc(runGroups.name));
  return c.json({ groups: rows.map(({ notifySecret: _secret, ...g }) => g) });
});

/** Sets a run group's concurrency limit (null: unlimited); queued runs start at once if room opened up. */
groupRoutes.put("/:name", requireRole("admin"), async (c) => {
  const { concurrency, notify } = await parseBody(c, GroupSettings);
  const row = { concurrency, notifyUrl: notify?.url ?? null, notifySecret: notify?.secret ?? null };
  const name = c.req.param("name");
  const { db, scheduler } = c.get("services");
  await scheduler.serial.run(async () => {
    await db
      .insert(runGroups)
      .values({ name, ...row })
      .onConflictDoUpdate({ target: runGroups.name, set: row });
    if (concurrency === null) scheduler.groupLimits.delete(name);
    else scheduler.groupLimits.set(name, concurrency);
    await scheduler.startNextInGroup(name);
  });
  return c.json({ name, concurrency, notify: notify ? { url: notify.url } : null });
});

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkName(name: string): string {
  if (!NAME.test(name)) throw new DroverError("bad_request", `${name} is not a valid environment variable name`);
  return name;
}

/** Values of variables and secrets are injected into the group's tasks; secrets are never returned. */
groupRoutes.get("/:name/values", requireRole("member"), async (c) => {
  return c.json({ values: await c.get("services").groupValues.list(c.req.param("name")) });
});

for (const kind of ["variables", "secrets"] as const) {
  groupRoutes.put(`/:name/${kind}/:key`, requireRole("admin"), async (c) => {
    const { value } = await parseBody(c, GroupValue);
    const key = checkName(c.req.param("key"));
    await c.get("services").groupValues.set(c.req.param("name"), key, value, kind === "secrets");
    return c.json({ group: c.req.param("name"), name: key, secret: kind === "secrets" });
  });
}

groupRoutes.delete("/:name/values/:key", requireRole("admin"), async (c) => {
  if (!(await c.get("services").groupValues.remove(c.req.param("name"), c.req.param("key")))) {
    throw notFound(`value ${c.req.param("key")} of group ${c.req.param("name")}`);
  }
  return c.json({ deleted: true });
});
