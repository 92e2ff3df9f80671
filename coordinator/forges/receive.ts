import { createHash } from "node:crypto";
import { eq } from "drizzle-orm";
import { background } from "../../shared/background.ts";
import { DroverError } from "../../shared/errors.ts";
import type { RunSource } from "../../shared/source.ts";
import { manualSource } from "../projects/manual-run.ts";
import type { ProjectRow } from "../projects/projects.ts";
import { type ProjectRunDeps, startProjectRun } from "../projects/start-run.ts";
import { deliveries } from "../db/schema.ts";
import { readHookBody } from "../triggers/hook.ts";
import { type DeliveryRow, deliveryView, recentTagRun, recordDelivery, settleDelivery } from "./deliveries.ts";
import { detectForge } from "./detect.ts";
import { deliveryIntent } from "./intent.ts";
import { InvalidPayload } from "./outcome.ts";
import { credentialMatches } from "./signature.ts";

/** A tag built within this long is not built again for the other of GitHub's two tag events. */
const TAG_TWIN_MS = 10 * 60_000;
/** How long the forge waits for the outcome before it is answered 202 (GitHub gives up after 10 s). */
const ANSWER_WITHIN_MS = 8000;

export type DeliveryAnswer = ReturnType<typeof deliveryView>;

/**
 * Takes one forge delivery for a project: recognised by its headers, authenticated by the project's secret,
 * recorded whatever happens, started at most once per delivery id. Answers the recorded delivery; the errors
 * it throws (400 not a forge's delivery or not its event's shape, 401 not signed with the secret, 413 too
 * large) are recorded first.
 */
export async function receiveDelivery(
  deps: ProjectRunDeps,
  project: ProjectRow,
  req: Request,
): Promise<{ status: 200 | 201 | 202; delivery: DeliveryAnswer }> {
  const { db } = deps;
  const headers = detectForge((name) => req.headers.get(name) ?? undefined);
  const base = {
    projectId: project.id,
    project: project.name,
    forge: headers?.forge ?? null,
    event: headers?.event ?? null,
    deliveryId: headers?.deliveryId ?? null,
  };
  const refuse = async (error: DroverError, outcome: "refused" | "invalid", status: number) => {
    await recordDelivery(db, { ...base, outcome, reason: error.message, status });
    return error;
  };
  if (!headers) {
    throw await refuse(
      new DroverError(
        "bad_request",
        "not a forge delivery: no X-GitHub-Event, X-Gitea-Event, X-Forgejo-Event or X-Gitlab-Event header",
      ),
      "invalid",
      400,
    );
  }
  const body = await readHookBody(req).catch(async (e: unknown) => {
    throw e instanceof DroverError ? await refuse(e, "refused", 413) : e;
  });
  if (!credentialMatches(headers.forge, deps.projects.hookSecret(project), body, headers.credential)) {
    const what = headers.forge === "gitlab" ? "X-Gitlab-Token" : "signature";
    throw await refuse(
      new DroverError(
        "unauthorized",
        `missing or wrong ${what}: the delivery was not sent with ${project.name}'s webhook secret`,
      ),
      "refused",
      401,
    );
  }
  // without an id from the forge, the same body twice is the same delivery
  const deliveryId = headers.deliveryId ?? `body-sha256:${createHash("sha256").update(body).digest("hex").slice(0, 32)}`;
  let intent: ReturnType<typeof deliveryIntent>;
  try {
    intent = deliveryIntent({ ...headers, deliveryId }, body);
  } catch (e) {
    if (!(e instanceof InvalidPayload)) throw e;
    throw await refuse(new DroverError("bad_request", e.message), "invalid", 400);
  }
  const ref = intent.kind === "build" ? intent.source.ref : null;
  const claim = await recordDelivery(db, {
    ...base,
    deliveryId,
    ref,
    claim: deliveryId,
    outcome: "pending",
    reason: "fetching the commit; the outcome follows here",
    status: 202,
  });
  if (!claim) {
    const reason = `delivery ${deliveryId} was received before`;
    return answer((await recordDelivery(db, { ...base, deliveryId, ref, outcome: "duplicate", reason, status: 200 }))!);
  }
  const settle = async (patch: Partial<DeliveryRow>) => answer(await settleDelivery(db, claim.id, { status: 200, ...patch }));
  if (intent.kind === "ignore") return settle({ outcome: "ignored", reason: intent.reason });
  const source = intent.source;
  if (source.event === "tag" && source.ref) {
    const twin = await recentTagRun(db, project.id, source.ref, Date.now() - TAG_TWIN_MS);
    if (twin)
      return settle({
        outcome: "duplicate",
        reason: `${source.ref} was built by delivery ${twin.deliveryId} (run #${twin.runNumber})`,
      });
  }
  // A forge gives up on a delivery after about 10 s (GitHub) and a first fetch of a big repository takes longer:
  // past ANSWER_WITHIN_MS the forge gets a 202 and the outcome is recorded when it is known.
  let answered = false;
  const finish = async (patch: Partial<DeliveryRow>) => answer(await settleDelivery(db, claim.id, { ...patch, status: answered ? 202 : (patch.status ?? 200) }));
  const started = startFrom(deps, project, source).then((s) => {
    switch (s.outcome) {
      case "created":
        return finish({ outcome: "created", reason: null, runId: s.run.id, runNumber: s.run.number ?? null, status: 201 });
      case "unreachable":
        // not the delivery's fault: a redelivery may find the repository back, so it does not count as seen
        return finish({ outcome: s.outcome, reason: s.reason, claim: null });
      default:
        return finish({ outcome: s.outcome, reason: s.reason });
    }
  });
  const early = await Promise.race([started, Bun.sleep(ANSWER_WITHIN_MS).then(() => undefined)]);
  if (early) return early;
  answered = true;
  background(`delivery ${deliveryId} of ${project.name}`, started);
  const [pending] = await db.select().from(deliveries).where(eq(deliveries.id, claim.id));
  return answer(pending!);
}

/** GitHub's create event names no commit: the tag is looked up in the project's mirror first. */
async function startFrom(deps: ProjectRunDeps, project: ProjectRow, source: RunSource) {
  if (source.sha === null && source.tag !== null) {
    try {
      const found = await manualSource(deps.projects, project, { tag: source.tag }, source.trigger);
      source = { ...source, sha: found.sha, message: found.message, author: source.author ?? found.author };
    } catch (e) {
      if (e instanceof DroverError) return { outcome: "unreachable" as const, reason: e.message };
      throw e;
    }
  }
  return startProjectRun(deps, project, source);
}

function answer(row: DeliveryRow): { status: 200 | 201 | 202; delivery: DeliveryAnswer } {
  return { status: row.status === 201 || row.status === 202 ? row.status : 200, delivery: deliveryView(row) };
}
