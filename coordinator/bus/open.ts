import type { CoordinatorConfig } from "../config.ts";
import { type Bus, LocalBus } from "./bus.ts";
import { NatsBus } from "./nats.ts";

/** NATS when DROVER_NATS_URL is set; otherwise hints stay on this node (and a cluster's nodes poll). */
export function openBus(config: Pick<CoordinatorConfig, "natsUrl" | "natsPrefix">, name?: string): Bus {
  return config.natsUrl ? new NatsBus({ url: config.natsUrl, prefix: config.natsPrefix, name }) : new LocalBus();
}
