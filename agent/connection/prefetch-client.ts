import { PROTOCOL_HEADER } from "../../shared/protocol/archive-api.ts";
import { prefetchPath } from "../../shared/protocol/prefetch.ts";
import { PROTOCOL_VERSION } from "../../shared/protocol/version.ts";
import { socketRequest } from "../archive/socket-http.ts";
import { checked } from "./files-error.ts";

/** What the agent needs to ask its coordinator for a prefetch. */
export interface PrefetchEndpoint {
  /** the coordinator node the agent is connected to now: the one that sent the hint */
  coordinator(): string;
  ca: string | null;
  agentId(): string;
  credential(): string;
}

/** The archive a prefetch grant names, as it is written (read off the socket, as a download is: socket-http.ts). */
export async function followPrefetch(endpoint: PrefetchEndpoint, grant: string, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
  const path = prefetchPath(grant);
  const headers = {
    authorization: `Bearer ${endpoint.credential()}`,
    "x-drover-agent": endpoint.agentId(),
    [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
  };
  const res = await checked(`GET ${path}`, () => socketRequest(`${endpoint.coordinator()}${path}`, { method: "GET", headers, ca: endpoint.ca, signal }), signal);
  if (!res.body) throw new Error(`GET ${path} returned no body`);
  return res.body;
}
