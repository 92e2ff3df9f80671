import { LocalBus } from "../../coordinator/bus/bus.ts";
import { runBusContract } from "./contract.ts";

runBusContract("local", () => ({ make: async () => new LocalBus(), shared: false }));
