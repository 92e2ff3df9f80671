import { z } from "@hono/zod-openapi";
import {
  AgentTokenCreated,
  AgentTokenList,
  GcReport,
  GroupList,
  GroupSettingsSaved,
  GroupValueList,
  GroupValueSaved,
  Revoked,
  TokenCreated,
  TokenList,
  ValueDeleted,
} from "./admin-schemas.ts";
import { type Registry, endpoints, json, jsonBody } from "./common.ts";
import { CreateAgentToken, CreateToken, GroupSettings, GroupValue } from "./requests.ts";

const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
  .openapi({ description: "an environment variable name" });

export function registerAdminPaths(registry: Registry) {
  const tokens = endpoints(registry, "tokens");
  tokens({
    method: "post",
    path: "/api/v1/tokens",
    role: "admin",
    summary: "Create an API token",
    request: { body: jsonBody(CreateToken) },
    responses: { 201: json(TokenCreated, "the token, shown once") },
  });
  tokens({
    method: "get",
    path: "/api/v1/tokens",
    role: "admin",
    summary: "API tokens, revoked ones included",
    responses: { 200: json(TokenList, "tokens, oldest first") },
  });
  tokens({
    method: "delete",
    path: "/api/v1/tokens/{id}",
    role: "admin",
    summary: "Revoke an API token",
    responses: { 200: json(Revoked, "revoked") },
  });
  tokens({
    method: "post",
    path: "/api/v1/agent-tokens",
    role: "admin",
    summary: "Create an agent registration token limited to one executor group",
    request: { body: jsonBody(CreateAgentToken) },
    responses: { 201: json(AgentTokenCreated, "the token, shown once") },
  });
  tokens({
    method: "get",
    path: "/api/v1/agent-tokens",
    role: "admin",
    summary: "Agent registration tokens",
    responses: { 200: json(AgentTokenList, "tokens, oldest first") },
  });
  tokens({
    method: "delete",
    path: "/api/v1/agent-tokens/{id}",
    role: "admin",
    summary: "Revoke an agent registration token",
    responses: { 200: json(Revoked, "revoked") },
  });

  const groups = endpoints(registry, "groups");
  groups({
    method: "get",
    path: "/api/v1/groups",
    role: "viewer",
    summary: "Run groups with settings",
    responses: { 200: json(GroupList, "groups by name") },
  });
  groups({
    method: "put",
    path: "/api/v1/groups/{name}",
    role: "admin",
    summary: "Set a run group's concurrency limit and run-finished webhook",
    description: "Queued runs start at once if the new limit leaves room.",
    request: { body: jsonBody(GroupSettings) },
    responses: { 200: json(GroupSettingsSaved, "the settings; the notify secret is not returned") },
  });
  groups({
    method: "get",
    path: "/api/v1/groups/{name}/values",
    role: "member",
    summary: "The group's variables and secrets (secret values hidden)",
    responses: { 200: json(GroupValueList, "values by name") },
  });
  for (const kind of ["variables", "secrets"]) {
    groups({
      method: "put",
      path: `/api/v1/groups/{name}/${kind}/{key}`,
      role: "admin",
      summary: `Set one of the group's ${kind}`,
      description: `Injected into the environment of the group's tasks${kind === "secrets" ? "; redacted from logs, never returned" : ""}.`,
      params: { key: envName },
      request: { body: jsonBody(GroupValue) },
      responses: { 200: json(GroupValueSaved, "saved") },
    });
  }
  groups({
    method: "delete",
    path: "/api/v1/groups/{name}/values/{key}",
    role: "admin",
    summary: "Remove a variable or secret",
    responses: { 200: json(ValueDeleted, "removed") },
  });

  endpoints(
    registry,
    "storage",
  )({
    method: "post",
    path: "/api/v1/gc",
    role: "admin",
    summary: "Run every garbage collector now",
    description: "They also run periodically.",
    responses: { 200: json(GcReport, "what each collector removed") },
  });
}
