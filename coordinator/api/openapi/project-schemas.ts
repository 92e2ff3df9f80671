import { z } from "@hono/zod-openapi";
import { ms } from "./run-schemas.ts";

/** Responses about projects. Clone credentials and the webhook secret never appear, except the secret once at creation. */

export const Project = z
  .object({
    id: z.string(),
    name: z.string(),
    repo: z.object({
      url: z.string(),
      forge: z.enum(["github", "gitea", "forgejo", "gitlab", "git"]),
      credentials: z.enum(["token", "ssh"]).nullable().openapi({ description: "which kind is stored; the value never leaves" }),
    }),
    api_url: z.string().nullable().openapi({ description: "the forge's REST API base, for commit statuses" }),
    default_branch: z.string(),
    pipeline_path: z.string(),
    poll: z.string().nullable(),
    fork_approval: z.boolean(),
    hook_url: z.string().openapi({ description: "where the forge posts its webhook deliveries" }),
    user: z.string(),
    created_at: ms,
  })
  .openapi("Project");

export const ProjectCreated = z
  .object({ ...Project.shape, hook_secret: z.string().openapi({ description: "the webhook secret, shown only here" }) })
  .openapi("ProjectCreated");

export const ProjectList = z.object({ projects: z.array(Project) }).openapi("ProjectList");
