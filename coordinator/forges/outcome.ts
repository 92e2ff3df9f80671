import type { z } from "zod";
import type { RunSource } from "../../shared/source.ts";

/** What a delivery asks for once read: a run of this source, or nothing (and why). */
export type HookIntent = { kind: "build"; source: RunSource } | { kind: "ignore"; reason: string };

/** The payload does not have the shape its forge documents for its event; the message says where. */
export class InvalidPayload extends Error {}

const ZERO_SHA = /^0+$/;
/** Forges send the all-zero sha for "no commit": a created branch's before, a deleted branch's after. */
export const realSha = (sha: string | null | undefined) => (sha && !ZERO_SHA.test(sha) ? sha : null);

/** Branch or tag named by a full ref; null when the ref is neither. */
export function splitRef(ref: string): { branch: string | null; tag: string | null } {
  if (ref.startsWith("refs/heads/")) return { branch: ref.slice("refs/heads/".length), tag: null };
  if (ref.startsWith("refs/tags/")) return { branch: null, tag: ref.slice("refs/tags/".length) };
  return { branch: null, tag: null };
}

/** The payload checked against the part of its schema a run needs; a mismatch names where, up to three places. */
export function parsePayload<T extends z.ZodType>(schema: T, payload: unknown, event: string): z.infer<T> {
  const parsed = schema.safeParse(payload);
  if (parsed.success) return parsed.data;
  const where = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`);
  throw new InvalidPayload(`not a ${event} payload: ${where.join("; ")}`);
}

/** Fields every forge event fills alike; each event overrides what it knows. */
export function baseSource(trigger: string, repoUrl: string): RunSource {
  return {
    event: "push",
    sha: null,
    ref: null,
    branch: null,
    tag: null,
    pr: null,
    before: null,
    message: null,
    author: null,
    repoUrl,
    trigger,
  };
}

export interface PushFacts {
  ref: string;
  before: string | null | undefined;
  /** the pushed commit; the all-zero sha (or null) when the ref was deleted */
  sha: string | null | undefined;
  repoUrl: string;
  message: string | null;
  author: string | null;
}

/** A push of a branch or a tag, alike in every forge once its facts are picked from the payload. */
export function pushIntent(push: PushFacts, trigger: string): HookIntent {
  const sha = realSha(push.sha);
  if (sha === null) return { kind: "ignore", reason: `${push.ref} was deleted` };
  const { branch, tag } = splitRef(push.ref);
  if (branch === null && tag === null) return { kind: "ignore", reason: `${push.ref} is neither a branch nor a tag` };
  const { ref, repoUrl, message, author } = push;
  const event = tag === null ? "push" : "tag";
  return {
    kind: "build",
    source: { ...baseSource(trigger, repoUrl), event, sha, ref, branch, tag, before: realSha(push.before), message, author },
  };
}
