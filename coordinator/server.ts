import { join } from "node:path";
import type { ServerWebSocket } from "bun";
import { type CoordinatorMessage, NODE_DRAINING_CLOSE } from "../shared/protocol/index.ts";
import { agentTokenGroup } from "./api/agent-tokens.ts";
import { createApp } from "./api/app.ts";
import type { Services } from "./services.ts";
import type { CoordinatorConfig } from "./config.ts";
import { background } from "../shared/background.ts";
import { openDb } from "./db/open.ts";
import { exposeState } from "./metrics/state.ts";
import { latestStatusEvent } from "./forges/status-events.ts";
import { CommitStatuses } from "./forges/status-notifier.ts";
import { markPosted, recentProjectRuns } from "./forges/status-store.ts";
import { statusTargets } from "./forges/status-target.ts";
import { notifyRunFinished } from "./notify/run-finished.ts";
import { loadSecretKey, SecretCipher } from "./secrets/cipher.ts";
import { sameSecret } from "./secrets/digests.ts";
import { GroupValues } from "./secrets/group-values.ts";
import { Projects } from "./projects/projects.ts";
import { collectAll } from "./gc/collectors.ts";
import { ClusterMember } from "./cluster/member.ts";
import type { NodeRow } from "./cluster/nodes.ts";
import { RunLeases } from "./cluster/run-leases.ts";
import { openBus } from "./bus/open.ts";
import { Polling } from "./bus/poll.ts";
import { RunSync } from "./runs/run-sync.ts";
import { AgentSession } from "./dispatch/agent-session.ts";
import { Cleanups } from "./fleet/cleanups.ts";
import { Dispatcher } from "./dispatch/dispatcher.ts";
import { Fleet } from "./fleet/fleet.ts";
import { restoreFleet } from "./fleet/restore.ts";
import { restoreSlots } from "./dispatch/restore-slots.ts";
import { FleetServices } from "./dispatch/fleet-services.ts";
import { LiveLogs } from "./logs/live-logs.ts";
import { ObjectRegistry } from "./objects/registry.ts";
import { AttemptReports } from "./runs/attempt-reports.ts";
import { RunEvents } from "./runs/run-events.ts";
import { Scheduler } from "./runs/scheduler.ts";
import { openObjectStore } from "./store/open.ts";
import { ProjectPoller } from "./triggers/poll.ts";
import { ScheduleTicker } from "./triggers/ticker.ts";

/** How often the lease timer looks at most while no agent is online and nothing is queued. */
const NOTHING_DUE_LOOK_MS = 1000;

interface SocketData {
  session?: AgentSession;
  remote: string;
  /** set when the agent registered with a token limited to one executor group */
  groupLock: string | null;
}

export interface RunningCoordinator {
  url: string;
  services: Services;
  /** the HTTP routes, for in-process requests (`app.request`) */
  app: ReturnType<typeof createApp>;
  stop(): Promise<void>;
}

/** Wires the coordinator together: database, storage, scheduler, fleet, HTTP and the agent WebSocket. */
export async function startCoordinator(config: CoordinatorConfig): Promise<RunningCoordinator> {
  const db = await openDb({ url: config.dbUrl, authToken: config.dbAuthToken });
  const store = openObjectStore(config.storage, { fsync: config.fsync, maxUnknownSizeBytes: config.maxObjectBytes });
  const registry = new ObjectRegistry(db, store);
  const bus = openBus(config);
  const logs = new LiveLogs(join(config.dataDir, "live-logs"), store, config.maxLogBytes, config.fsync, (key) =>
    bus.publish({ kind: "log_bytes", attemptId: key.attempt, step: key.step }),
  );
  const runEvents = new RunEvents(bus);
  const fleet = new Fleet(db, config.heartbeatMs, config.leaseTtlMs);
  // the node's url is known once the server listens; until it joins, it holds no duty
  let listenUrl = "";
  const member = new ClusterMember(db, {
    url: () => config.nodeUrl ?? listenUrl,
    agentsHeld: () => [...fleet.agents.values()].filter((a) => a.socket).length,
    onBeat: (others) => beatWork(others),
  });
  const scheduler = new Scheduler(db, runEvents, config.cancelGraceMs, new RunLeases(db, member.id));
  const runSync = new RunSync(scheduler, bus, member.id, () => member.peers);
  const reports = new AttemptReports(db, scheduler, (a) => fleet.free(a.agentId, a.id), logs, registry);
  const cipher = new SecretCipher(loadSecretKey(config.dataDir, config.secretKey));
  const groupValues = new GroupValues(db, cipher);
  const projects = new Projects(db, cipher, join(config.dataDir, "mirrors"));
  const dispatcher = new Dispatcher(scheduler, fleet, config.acceptTimeoutMs, config.queueTimeoutMs, groupValues, projects, (a) =>
    reports.ended(a),
  );
  scheduler.dispatchTo(dispatcher);
  scheduler.wakeDispatcher = () => dispatcher.pump();
  const cleanups = new Cleanups(db, fleet);
  const fleetServices = new FleetServices(db, fleet, scheduler, dispatcher, reports, logs, cleanups, {
    reconnectGraceMs: config.reconnectGraceMs,
    node: member.id,
    // A step's log in as few uploads as fit: each new one waited for the last to be written and answered, and for
    // its own connection and authentication, while the agent held its bytes (three times per 256 MiB at 64 MiB).
    // Within the body cap (maxRequestBodySize), and no further than the log cap, which is all of a log that is kept.
    logUploadBytes: Math.min(config.maxObjectBytes, config.maxLogBytes),
  });
  const beatWork = async (others: NodeRow[]) => {
    await scheduler.holdRuns();
    if (member.holds("leases")) await fleetServices.adoptLapsed(new Set(others.map((n) => n.id)));
  };
  // with --port 0 the port is known once the server listens
  let publicUrl = config.publicUrl ?? `${config.tls ? "https" : "http"}://${config.host}:${config.port}`;
  scheduler.onFinished = (run) => notifyRunFinished(db, run, publicUrl);
  const statuses = new CommitStatuses({
    appendEvent: (runId, kind, data) => scheduler.serial.run(() => scheduler.appendEvent(runId, kind, data)),
    posted: (runId, state) => markPosted(db, runId, state),
    lastStatusEvent: (runId) => latestStatusEvent(db, runId),
    runUrl: (run) => `${publicUrl}/runs/${run.id}`,
    target: statusTargets(projects),
  });
  scheduler.onPhase = (run) => statuses.onPhase(run);
  exposeState(db, scheduler, fleet, dispatcher);
  await restoreFleet(db, fleet, member.id, new Set((await member.others()).map((n) => n.id)));
  await scheduler.serial.run(async () => {
    await scheduler.load();
    restoreSlots(fleet, scheduler);
  });
  // hints between nodes (coordinator/bus): while they may be missed, this node polls the database instead
  const polling = new Polling(bus, { peers: () => member.peers });
  const stopPolling = [
    runEvents.pollWhileDeaf(db, polling),
    polling.every("runs", () => scheduler.serial.run(() => scheduler.readAll())),
  ];
  const ticker = new ScheduleTicker(db, scheduler, new ProjectPoller({ db, scheduler, projects }), (duty) => member.holds(duty));
  ticker.start();

  const services: Services = {
    db,
    store,
    registry,
    groupValues,
    logs,
    scheduler,
    fleet,
    dispatcher,
    runEvents,
    bus,
    polling,
    projects,
    cluster: member,
    adminToken: config.adminToken,
    agentToken: config.agentToken,
  };
  const app = createApp(services, { distDir: config.distDir, publicUrl: config.publicUrl, retention: config.retention });
  const gcTimer = setInterval(
    () => {
      if (member.holds("gc")) background("gc", collectAll({ db, registry, store, retention: config.retention }));
      // each node has its own mirrors: a project deleted through another node leaves this one's behind
      background("mirrors", projects.pruneMirrors());
    },
    config.gcIntervalMs,
  );
  // Leases are flushed once per heartbeat slot while agents are online, just after their beats came (heartbeat-slots.ts).
  // A lease lapses, or a fenced agent's attempts come due, at a time known in advance: looked at then, and again when
  // a closed connection shortens a lease. Queue timeouts pass without any event to react to: looked for four times a
  // second while an attempt is queued. With nothing online or queued, a look once a second (an agent registering is
  // online at once).
  const queueTick = Math.min(250, config.leaseTtlMs / 4);
  let leasesStopped = false;
  const armLeaseTimer = () => {
    if (leasesStopped) return;
    const now = Date.now();
    const wait = Math.min(
      fleet.agents.size > 0 ? fleet.slots.nextFlushIn(now) : NOTHING_DUE_LOOK_MS,
      dispatcher.length > 0 ? queueTick : NOTHING_DUE_LOOK_MS,
      fleetServices.nextLapseIn(now),
    );
    clearTimeout(leaseTimer);
    leaseTimer = setTimeout(checkLeases, wait);
  };
  const checkLeases = () => {
    background(
      "leases",
      fleet.flushLeases().then(() => fleetServices.expireLeases()),
    );
    // with nothing queued a pass has nothing to place or time out
    if (dispatcher.length > 0) dispatcher.pump();
    armLeaseTimer();
  };
  let leaseTimer = setTimeout(checkLeases, queueTick);
  fleetServices.onLeaseShortened = armLeaseTimer;

  const server = Bun.serve<SocketData>({
    hostname: config.host,
    port: config.port,
    tls: config.tls,
    idleTimeout: 0,
    // Bodies are objects to store (or forms carrying one): the store's cap, with room for a form's other fields.
    // Enforced while a body streams, it also bounds uploads the store writes without looking at them.
    maxRequestBodySize: config.maxObjectBytes + 16 * 1024 * 1024,
    async fetch(req, srv) {
      const url = new URL(req.url);
      if (url.pathname === "/agent/v1/connect") {
        const token = (req.headers.get("authorization") ?? "").replace(/^Bearer /, "");
        const fleetToken = sameSecret(token, config.agentToken);
        const groupLock = fleetToken ? null : await agentTokenGroup(db, token);
        if (!fleetToken && groupLock === undefined) {
          return Response.json({ error: { code: "unauthorized", message: "bad agent token" } }, { status: 401 });
        }
        const remote = srv.requestIP(req)?.address ?? "unknown";
        if (srv.upgrade(req, { data: { remote, groupLock: groupLock ?? null } })) return undefined;
        return Response.json({ error: { code: "bad_request", message: "expected a WebSocket upgrade" } }, { status: 400 });
      }
      // the server as the environment: a log upload asks it to close its request when the lease lapses
      return app.fetch(req, srv);
    },
    websocket: {
      maxPayloadLength: 2 * 1024 * 1024,
      open(ws: ServerWebSocket<SocketData>) {
        const socket = {
          send: (m: CoordinatorMessage) => void ws.send(JSON.stringify(m)),
          close: (code: number, reason: string) => ws.close(code, reason),
        };
        ws.data.session = new AgentSession(socket, fleetServices, ws.data.remote, ws.data.groupLock);
      },
      message(ws: ServerWebSocket<SocketData>, message) {
        const session = ws.data.session!;
        if (typeof message === "string") {
          session.onText(message);
        } else {
          session.onBinary(message);
        }
      },
      close(ws: ServerWebSocket<SocketData>) {
        ws.data.session?.onClose();
      },
    },
  });

  publicUrl = config.publicUrl ?? `http://${config.host}:${server.port}`;
  listenUrl = `${config.tls ? "https" : "http"}://${config.host}:${server.port}`;
  await member.join();
  background("mirrors", projects.pruneMirrors());
  // statuses a stop left unposted (queued, or being retried) go out again, now the run pages' URL is known
  background("commit statuses", recentProjectRuns(db).then((rows) => statuses.resume(rows)));
  return {
    url: listenUrl,
    services,
    app,
    async stop() {
      await member.drain().catch((e) => console.error("[cluster] could not mark the node draining:", e));
      // agents given other nodes move now; their attempts stay theirs through the reconnect grace
      for (const agent of fleet.agents.values()) agent.socket?.close(NODE_DRAINING_CLOSE, "the coordinator is stopping");
      leasesStopped = true;
      clearTimeout(leaseTimer);
      clearInterval(gcTimer);
      await ticker.stop();
      await member.leave();
      // let the state change in flight finish, then give the runs up: another node drives them at once
      await scheduler.advanceUnhurried().catch((e) => console.error("[runs] advancing before the stop failed:", e));
      await scheduler.serial.run(() => scheduler.leases.release());
      await server.stop(true);
      dispatcher.stop();
      // let the state changes in flight finish before the database goes
      await scheduler.serial.settled();
      for (const stop of stopPolling) stop();
      await bus.close();
      db.$client.close();
    },
  };
}
