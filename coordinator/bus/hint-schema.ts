import { z } from "zod";
import type { Hint } from "./bus.ts";

const id = z.string().min(1).max(128);

/** A hint as it travels between nodes, checked on receipt: what another process sent is not trusted. */
export const HintSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("log_bytes"), attemptId: id, step: z.number().int().min(0).max(0xffff) }),
  z.object({ kind: z.literal("run_event"), runId: id }),
  z.object({ kind: z.literal("run_changed"), runId: id, from: id, attempts: z.array(id).max(1000).optional() }),
]);

// the schema and the Hint type name the same shapes: each fails to compile when the other changes alone
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const same: Same<z.infer<typeof HintSchema>, Hint> = true;
void same;
