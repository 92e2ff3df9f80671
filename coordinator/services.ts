import type { Bus } from "./bus/bus.ts";
import type { Polling } from "./bus/poll.ts";
import type { ClusterMember } from "./cluster/member.ts";
import type { Db } from "./db/open.ts";
import type { LiveLogs } from "./logs/live-logs.ts";
import type { Fleet } from "./fleet/fleet.ts";
import type { Dispatcher } from "./dispatch/dispatcher.ts";
import type { RunEvents } from "./runs/run-events.ts";
import type { Scheduler } from "./runs/scheduler.ts";
import type { ObjectRegistry } from "./objects/registry.ts";
import type { Projects } from "./projects/projects.ts";
import type { GroupValues } from "./secrets/group-values.ts";
import type { ObjectStore } from "./store/object-store.ts";

export interface Services {
  db: Db;
  store: ObjectStore;
  registry: ObjectRegistry;
  groupValues: GroupValues;
  logs: LiveLogs;
  scheduler: Scheduler;
  fleet: Fleet;
  dispatcher: Dispatcher;
  runEvents: RunEvents;
  /** hints to and from the other nodes */
  bus: Bus;
  /** whether (and how often) to poll the database for what hints would say */
  polling: Polling;
  projects: Projects;
  /** this node of the cluster sharing the database (one node alone by default) */
  cluster: ClusterMember;
  adminToken: string;
  agentToken: string;
}
