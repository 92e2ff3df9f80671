import type { Principal } from "../auth/principal.ts";
import type { Services } from "../services.ts";

/** The one environment type of the Hono app. */
export interface AppEnv {
  Variables: {
    principal: Principal;
    services: Services;
    /** the token the caller proved itself with: passed on when this node asks another on its behalf */
    credential: string;
  };
}
