import type { z } from "@hono/zod-openapi";
import type * as fleet from "../coordinator/api/openapi/fleet-schemas.ts";
import type * as runs from "../coordinator/api/openapi/run-schemas.ts";

// Types only: the client verbs must not load the coordinator, or zod, at runtime.
export type RunSummary = z.infer<typeof runs.RunSummary>;
export type RunView = z.infer<typeof runs.RunView>;
export type TaskView = z.infer<typeof runs.Task>;
export type AttemptView = z.infer<typeof runs.Attempt>;
export type RunList = z.infer<typeof runs.RunList>;
export type Artifact = z.infer<typeof runs.Artifact>;
export type AgentList = z.infer<typeof fleet.AgentList>;
export type AttemptList = z.infer<typeof fleet.AttemptList>;
export type AttemptHistoryItem = z.infer<typeof fleet.AttemptHistoryItem>;
export type AttemptStats = z.infer<typeof fleet.AttemptStats>;
export type TaskStats = z.infer<typeof fleet.TaskStats>;
