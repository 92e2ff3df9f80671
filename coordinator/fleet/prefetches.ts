import { randomBytes } from "node:crypto";
import { DroverError } from "../../shared/errors.ts";
import type { OnlineAgent } from "./fleet.ts";
import { FollowedUpload } from "./followed-upload.ts";

/** How long a grant waits for its agent to come and follow the upload once it is stored. */
const UNCLAIMED_MS = 60_000;
/** How long placement prefers the agent a workspace went to: as long as that agent keeps it (agent/archive/kept.ts). */
const HELD_MS = 30 * 60_000;
/** Uploads one agent follows at once. */
const PER_AGENT = 1;

interface Grant {
  agentId: string;
  object: string;
  /** whether an agent may still run the downstream task it was found eligible for: asked again when it comes to follow */
  eligible: (agent: OnlineAgent) => boolean;
  upload: FollowedUpload;
}

/**
 * Prefetch grants this node gave (docs/protocol.md, "Prefetched workspaces"): each lets one agent read
 * one upload as it is written, once. In memory only: a grant lost with its node costs only the early start
 * (the restore downloads as usual), and an agent on another node is never asked.
 */
export class Prefetches {
  private readonly grants = new Map<string, Grant>();
  /** saving attempt → the agent its workspace went to, and until when */
  private readonly holders = new Map<string, { agentId: string; until: number }>();

  /** Whether `agent` may be asked to follow one more upload. */
  hasRoom(agent: OnlineAgent): boolean {
    let following = 0;
    for (const grant of this.grants.values()) if (grant.agentId === agent.row.id) following++;
    return following < PER_AGENT;
  }

  /**
   * Grants `agent` the upload of `object` by `attempt`, eligible as it is (`eligible`) for the task that restores it, and tells it: the
   * watcher for the store and the route, which the agent then follows.
   */
  grant(agent: OnlineAgent, object: string, attempt: string, eligible: (agent: OnlineAgent) => boolean): FollowedUpload {
    const now = Date.now();
    for (const [held, { until }] of this.holders) if (until < now) this.holders.delete(held);
    const id = randomBytes(18).toString("base64url");
    const upload = new FollowedUpload(() => this.grants.delete(id));
    this.grants.set(id, { agentId: agent.row.id, object, eligible, upload });
    this.holders.set(attempt, { agentId: agent.row.id, until: now + HELD_MS });
    agent.socket!.send({ type: "prefetch", grant: id, object });
    return upload;
  }

  /** The upload is stored: a grant nobody came for within UNCLAIMED_MS lets go of its file. */
  stored(upload: FollowedUpload, size: number): void {
    upload.stored(size);
    setTimeout(() => upload.release(), UNCLAIMED_MS).unref();
  }

  /**
   * The upload `grant` lets `agent` follow, with its file's descriptor: only the agent it was given to, while
   * that agent is still eligible for the task that restores it, and only once.
   */
  follow(grantId: string, agentId: string, agent: OnlineAgent | undefined): { upload: FollowedUpload; fd: number } {
    const grant = this.grants.get(grantId);
    if (!grant || grant.agentId !== agentId) throw new DroverError("not_found", "no such prefetch for this agent");
    if (!agent || !grant.eligible(agent)) {
      grant.upload.release();
      throw new DroverError("forbidden", `this agent may no longer run the task that restores ${grant.object}`);
    }
    const fd = grant.upload.take();
    if (fd === null) throw new DroverError("not_found", `the upload of ${grant.object} cannot be followed (already followed, or not stored here)`);
    return { upload: grant.upload, fd };
  }

  /** The agent a workspace saved by `attempt` was prefetched to, while it may still hold it. */
  holderOf(attempt: string): string | undefined {
    const held = this.holders.get(attempt);
    if (held && held.until < Date.now()) this.holders.delete(attempt);
    return held && held.until >= Date.now() ? held.agentId : undefined;
  }
}
