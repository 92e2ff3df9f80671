import type { CheckoutSpec } from "../../shared/protocol/index.ts";

/** Clone credentials as stored (encrypted) and as an assignment carries them to the agent's git. */
export type Credentials = NonNullable<CheckoutSpec["credentials"]>;

/** What the API accepts: a bare token, `{token, username?}`, `{username, password}` or `{ssh_key}`. */
export type CredentialsInput = string | { token: string; username?: string } | { username: string; password: string } | { ssh_key: string };

export type Forge = "github" | "gitea" | "forgejo" | "gitlab" | "git";

/**
 * The user name a forge expects beside a bare token over HTTPS: GitHub takes `x-access-token` (app and
 * personal tokens alike), GitLab `oauth2`; Gitea and Forgejo read the password as a token whatever the name.
 */
const TOKEN_USER: Record<Forge, string> = {
  github: "x-access-token",
  gitlab: "oauth2",
  gitea: "git",
  forgejo: "git",
  git: "git",
};

export function normalizeCredentials(input: CredentialsInput, forge: Forge): Credentials {
  if (typeof input === "string") return { kind: "token", username: TOKEN_USER[forge], token: input };
  if ("ssh_key" in input) return { kind: "ssh", privateKey: input.ssh_key.endsWith("\n") ? input.ssh_key : `${input.ssh_key}\n` };
  if ("password" in input) return { kind: "token", username: input.username, token: input.password };
  return { kind: "token", username: input.username ?? TOKEN_USER[forge], token: input.token };
}

/**
 * The strings a log or an error message must never show for these credentials: the token, and the basic-auth
 * values git would build from it.
 */
export function credentialSecrets(credentials: Credentials | null): string[] {
  if (!credentials) return [];
  if (credentials.kind === "ssh") return [credentials.privateKey.trim()];
  const { username, token } = credentials;
  return [token, encodeURIComponent(token), Buffer.from(`${username}:${token}`).toString("base64")];
}
