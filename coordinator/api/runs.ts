import { and, eq, notInArray } from "drizzle-orm";
import { Hono } from "hono";
import { DroverError } from "../../shared/errors.ts";
import { OPEN_RUN_PHASES } from "../../shared/states.ts";
import { newId } from "../../shared/ids.ts";
import { events, runs } from "../db/schema.ts";
import { putStream } from "../objects/put.ts";
import { runOwner } from "../objects/registry.ts";
import { createRun } from "../runs/create-run.ts";
import { sourceOf } from "../../shared/source.ts";
import { listRuns } from "../runs/list-runs.ts";
import { loadRunWithSteps } from "../runs/load-run.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";
import { readMultipartSubmission } from "./multipart-submission.ts";
import { invalid, parseQuery, readJson, SUBMISSION_BODY_BYTES } from "./validate.ts";
import { runView, summarize } from "../runs/run-view.ts";
import { ListRunsQuery, SubmitRun } from "./openapi/requests.ts";

function parseJsonField(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new DroverError("bad_request", `field ${name} is not JSON`);
  }
}

export const runRoutes = new Hono<AppEnv>();

runRoutes.post("/", requireRole("member"), async (c) => {
  const { db, scheduler, store, registry } = c.get("services");
  // a refused run must not leave its upload behind, referenced by nothing
  const dropUpload = (key: string) => registry.deleteUnowned({ olderThan: Date.now() + 1, keys: [key] }).then(() => {});
  const multipart = (c.req.header("content-type") ?? "").startsWith("multipart/form-data");
  let fields: unknown;
  let workspace: string | null = null;
  let form: Record<string, string> = {};
  if (multipart) {
    const upload = async (body: ReadableStream<Uint8Array>) => {
      const key = `uploads/${newId()}.tar.gz`;
      await registry.record(key, "upload", await putStream(store, key, body), null);
      return key;
    };
    ({ fields: form, workspace } = await readMultipartSubmission(c.req.raw, SUBMISSION_BODY_BYTES, upload, dropUpload));
  } else {
    // a pipeline (1 MiB) and variables: no more than this of it is read
    fields = await readJson(c, SUBMISSION_BODY_BYTES, "a run submission's JSON");
  }
  try {
    if (multipart) {
      const json = (name: string) => (form[name] === undefined ? undefined : parseJsonField(name, form[name]));
      fields = { ...form, variables: json("variables"), source: json("source") };
    }
    const parsed = SubmitRun.safeParse(fields);
    if (!parsed.success) throw invalid(parsed.error);
    const user = c.get("principal").user;
    const local = parsed.data.source;
    const run = await createRun(db, scheduler, {
      pipeline: parsed.data.pipeline,
      pipelineFile: parsed.data.file,
      group: parsed.data.group,
      user,
      variables: parsed.data.variables,
      workspace,
      source: local ? sourceOf("direct", user, local) : sourceOf("api", user),
    });
    if (workspace) await registry.addOwner([workspace], runOwner(run.id));
    return c.json(summarize(run), 201);
  } catch (e) {
    if (workspace) await dropUpload(workspace);
    throw e;
  }
});

runRoutes.get("/", requireRole("viewer"), async (c) => {
  const rows = await listRuns(c.get("services").db, parseQuery(c, ListRunsQuery));
  return c.json({ runs: rows.map(summarize) });
});

runRoutes.get("/:id", requireRole("viewer"), async (c) => {
  const stored = await loadRunWithSteps(c.get("services").db, c.req.param("id"));
  if (!stored) throw notFound(`run ${c.req.param("id")}`);
  return c.json(runView(stored));
});

/** Drops the run and its ownership of objects; objects no other run owns are deleted with it. */
runRoutes.delete("/:id", requireRole("admin"), async (c) => {
  const { db, scheduler, registry } = c.get("services");
  const id = c.req.param("id");
  // conditional on the stored phase, not this node's memory: another node may have started the run a moment ago
  const deleted = await db
    .delete(runs)
    .where(and(eq(runs.id, id), notInArray(runs.phase, [...OPEN_RUN_PHASES])))
    .returning({ id: runs.id });
  if (deleted.length === 0) {
    const [open] = await db.select({ id: runs.id }).from(runs).where(eq(runs.id, id));
    if (open) throw new DroverError("conflict", `run ${id} is still running: cancel it first`);
    throw notFound(`run ${id}`);
  }
  await db.delete(events).where(eq(events.runId, id));
  const owned = await registry.owned(runOwner(id));
  await registry.dropOwner(runOwner(id));
  const removed = await registry.deleteUnowned({ olderThan: Date.now() + 1, keys: owned });
  return c.json({ id, deleted: true, objectsDeleted: removed, objectsKept: owned.length - removed });
});
