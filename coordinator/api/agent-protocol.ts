import type { MiddlewareHandler } from "hono";
import { DroverError } from "../../shared/errors.ts";
import { PROTOCOL_HEADER, PROTOCOL_VERSION, versionMismatch } from "../../shared/protocol/index.ts";
import type { AppEnv } from "./env.ts";

/** The archive API checks the agent's protocol version as the WebSocket's hello does. */
export function agentProtocol(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const spoken = c.req.header(PROTOCOL_HEADER);
    if (spoken !== String(PROTOCOL_VERSION)) {
      const number = spoken !== undefined && /^\d+$/.test(spoken) ? Number(spoken) : null;
      throw new DroverError("incompatible_version", versionMismatch(number));
    }
    await next();
  };
}
