import { type OpenAPIHono, type RouteConfig, z } from "@hono/zod-openapi";
import type { ErrorCode } from "../../../shared/errors.ts";
import { STATUS } from "../errors.ts";
import type { Role } from "../../auth/principal.ts";

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(STATUS) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.unknown().optional().openapi({ description: 'e.g. `{errors: ["file:line:col: message"]}` for a bad pipeline' }),
    }),
  })
  .openapi("Error");

const ERRORS = {
  400: "the request is invalid (body, query, or pipeline)",
  401: "missing or unknown bearer token",
  403: "the token's role does not allow this",
  404: "no such resource",
  409: "the resource is not in a state that allows this",
  413: "the body or upload is larger than allowed (the message names the bound)",
  503: "object storage failed",
};
type ErrorStatus = keyof typeof ERRORS;

type Responses = RouteConfig["responses"];
type Request = NonNullable<RouteConfig["request"]>;

export const json = (schema: z.ZodType, description: string): Responses[number] => ({
  description,
  content: { "application/json": { schema } },
});

export const jsonBody = (schema: z.ZodType): Request["body"] => ({ required: true, content: { "application/json": { schema } } });

/** Raw bytes: archives, artifacts, agent binaries. */
export const binary = (type: string, description: string): Responses[number] => ({
  description,
  content: { [type]: { schema: z.string().openapi({ format: "binary" }) } },
});

export type Access = Role | "public";

export interface Endpoint extends Omit<RouteConfig, "request" | "security" | "tags"> {
  /** the least role the handler's requireRole asks for; "public" needs no token */
  role: Access;
  request?: Omit<Request, "params">;
  /** path parameters that are not plain strings, or need a word of explanation */
  params?: Record<string, z.ZodType>;
  /** error statuses beyond those the role, a body and path parameters imply (a validated query: 400) */
  errors?: ErrorStatus[];
}

const ROLE_TEXT: Record<Access, string> = {
  public: "No token needed.",
  viewer: "Needs the viewer role or above.",
  member: "Needs the member role or above.",
  admin: "Needs the admin role.",
  agent: "Agents only: the agent's own credential, with its id in X-Drover-Agent.",
};

export type Registry = OpenAPIHono["openAPIRegistry"];

/**
 * Registers endpoints of one area (tag). Path parameters come from the path itself,
 * and the error responses every such endpoint can give are added here, not repeated.
 */
export function endpoints(registry: Registry, tag: string) {
  return ({ role, params = {}, errors = [], request = {}, description, ...route }: Endpoint) => {
    const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
    const statuses = new Set<ErrorStatus>(errors);
    if (role !== "public") statuses.add(401).add(403);
    // every body is read only up to its bound
    if (request.body) statuses.add(400).add(413);
    if (names.length) statuses.add(404);
    const responses: Responses = { ...route.responses };
    for (const s of [...statuses].sort((a, b) => a - b)) responses[s] = json(ErrorBody, ERRORS[s]);
    registry.registerPath({
      ...route,
      tags: [tag],
      description: [description, ROLE_TEXT[role]].filter(Boolean).join("\n\n"),
      "x-drover-role": role,
      ...(role === "public" ? { security: [] } : {}),
      request: {
        ...request,
        ...(names.length ? { params: z.object(Object.fromEntries(names.map((n) => [n, params[n] ?? z.string()]))) } : {}),
      },
      responses,
    });
  };
}
