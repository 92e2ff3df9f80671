import { connect, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { busHintsDropped } from "../metrics/registry.ts";
import { type Bus, type HintKind, type HintOf, LocalBus } from "./bus.ts";
import { HintSchema } from "./hint-schema.ts";

export interface NatsBusOptions {
  /** one NATS server URL, or several separated by commas */
  url: string;
  /** hints are sent on `<prefix>.hint.<kind>` */
  prefix?: string;
  /** how this connection is named on the server's monitoring pages */
  name?: string;
  /** the longest wait between two tries to (re)connect; the waits double up to it, with jitter */
  maxBackoffMs?: number;
}

const FIRST_BACKOFF_MS = 100;
/**
 * A run's events go to the other nodes at most this often from one node: a run's reports publish them in bursts,
 * and a watcher woken once reads every event since the last it read.
 */
export const RUN_EVENT_EVERY_MS = 50;
/** hints this large are not hints: something else is sending on our subjects */
const MAX_HINT_BYTES = 4096;

/**
 * The bus over NATS (core pub/sub, at most once). This node's own hints reach its subscribers at once, in
 * process; the server does not echo them back (noEcho). The other nodes get them at the end of the turn of the
 * event loop, each distinct hint once however often it was published in the turn, and a run's events at most once
 * per RUN_EVENT_EVERY_MS (the last of a burst always goes). A hint goes on
 * `<prefix>.hint.<kind>`, a run's events on `<prefix>.hint.run_event.<run>`, so the server passes them only to
 * the nodes that watch that run (`watchRunEvents`). It connects in the background and reconnects
 * forever, backing off; while it is not connected `live` is false and hints published are dropped, so
 * receivers poll the database meanwhile. A malformed message is counted and dropped.
 */
export class NatsBus implements Bus {
  private readonly local = new LocalBus();
  private readonly prefix: string;
  private readonly maxBackoffMs: number;
  private nc: NatsConnection | null = null;
  private connected = false;
  private closed = false;
  private failures = 0;
  private stopWaiting = () => {};
  /** hints to send at the end of this turn: subject and payload, by both */
  private readonly outbox = new Map<string, { subject: string; payload: string }>();
  /** runs whose events went out within the last RUN_EVENT_EVERY_MS, and whether more came since */
  private readonly recentRunEvents = new Map<string, { more: boolean }>();
  /** the runs whose events this node watches (null: every run), how many watch each, and their subscription */
  private readonly watched = new Map<string | null, { count: number; sub: Subscription | null }>();
  /** malformed messages received on the hint subjects */
  dropped = 0;

  constructor(private readonly options: NatsBusOptions) {
    this.prefix = options.prefix ?? "drover";
    this.maxBackoffMs = options.maxBackoffMs ?? 2000;
    void this.connectLoop();
  }

  get live(): boolean {
    return this.connected;
  }

  publish(hint: HintOf<HintKind>): void {
    this.local.publish(hint);
    if (hint.kind === "run_event") this.throttleRunEvent(hint);
    else this.publishRemote(hint);
  }

  /** A run's first event in a while goes out at once, the rest of a burst as one hint per RUN_EVENT_EVERY_MS. */
  private throttleRunEvent(hint: HintOf<"run_event">): void {
    const recent = this.recentRunEvents.get(hint.runId);
    if (recent) {
      recent.more = true;
      return;
    }
    const sent = { more: false };
    this.recentRunEvents.set(hint.runId, sent);
    this.publishRemote(hint);
    setTimeout(() => {
      this.recentRunEvents.delete(hint.runId);
      if (sent.more && !this.closed) this.throttleRunEvent(hint);
    }, RUN_EVENT_EVERY_MS);
  }

  private publishRemote(hint: HintOf<HintKind>): void {
    if (!this.connected) return;
    const subject = this.subject(hint);
    const payload = JSON.stringify(hint);
    if (this.outbox.size === 0) setImmediate(() => this.send());
    this.outbox.set(`${subject} ${payload}`, { subject, payload });
  }

  private send(): void {
    const nc = this.connected ? this.nc : null;
    for (const { subject, payload } of this.outbox.values()) {
      try {
        nc?.publish(subject, payload);
      } catch (e) {
        // closing or draining between the check and the send: a hint may be lost
        console.error("[bus] publishing a hint failed:", (e as Error).message);
        break;
      }
    }
    this.outbox.clear();
  }

  /** The subject a hint travels on: its kind's, or for a run's events the run's own. */
  private subject(hint: HintOf<HintKind>): string {
    return hint.kind === "run_event" ? `${this.prefix}.hint.run_event.${hint.runId}` : `${this.prefix}.hint.${hint.kind}`;
  }

  watchRunEvents(runId: string | null, ready: () => void): () => void {
    let watch = this.watched.get(runId);
    if (!watch) {
      watch = { count: 0, sub: null };
      this.watched.set(runId, watch);
      if (this.nc) watch.sub = this.subscribeRunEvents(this.nc, runId);
    }
    // the server has the subscription once it answered the next round trip: a hint sent before may be lost. Not
    // connected, nothing is delivered: the node polls until it is, then reads everything once more.
    this.nc?.flush().then(ready, () => {});
    watch.count++;
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      if (--watch.count > 0) return;
      this.watched.delete(runId);
      try {
        watch.sub?.unsubscribe();
      } catch {
        // the connection closed: the subscription went with it
      }
    };
  }

  private subscribeRunEvents(nc: NatsConnection, runId: string | null): Subscription {
    return nc.subscribe(`${this.prefix}.hint.run_event.${runId ?? ">"}`, {
      callback: (err, msg) => {
        if (!err) this.receive(msg);
      },
    });
  }

  subscribe<K extends HintKind>(kind: K, handler: (hint: HintOf<K>) => void): () => void {
    return this.local.subscribe(kind, handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.connected = false;
    this.outbox.clear();
    this.recentRunEvents.clear();
    this.stopWaiting();
    await this.nc?.close().catch(() => {});
    await this.local.close();
  }

  /** Doubling waits with full jitter, so that nodes restarted together do not retry in step. */
  private backoff(): number {
    const ceiling = Math.min(this.maxBackoffMs, FIRST_BACKOFF_MS * 2 ** Math.min(this.failures++, 16));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  /** The first connection; once made, the client itself reconnects forever, with the same backoff. */
  private async connectLoop(): Promise<void> {
    while (!this.closed) {
      try {
        const nc = await connect({
          servers: this.options.url.split(",").map((s) => s.trim()),
          name: this.options.name,
          noEcho: true,
          maxReconnectAttempts: -1,
          reconnectDelayHandler: () => this.backoff(),
          timeout: 2000,
          // a server that stops answering (not only one that closes) is noticed within about 6 s
          pingInterval: 2000,
          maxPingOut: 2,
        });
        if (this.closed) {
          await nc.close();
          return;
        }
        this.nc = nc;
        await this.attach(nc);
        return;
      } catch (e) {
        if (this.failures === 0) console.error(`[bus] cannot reach NATS at ${this.options.url} (retrying): ${(e as Error).message}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.backoff());
          this.stopWaiting = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  private async attach(nc: NatsConnection): Promise<void> {
    nc.subscribe(`${this.prefix}.hint.*`, {
      callback: (err, msg) => {
        if (!err) this.receive(msg);
      },
    });
    for (const [runId, watch] of this.watched) watch.sub = this.subscribeRunEvents(nc, runId);
    void this.watch(nc);
    await this.ready(nc);
    console.log(`[bus] connected to NATS at ${nc.getServer()}`);
    void nc.closed().then(() => {
      this.connected = false;
      // closed by the client itself (not by us): start over
      if (!this.closed) void this.connectLoop();
    });
  }

  /** Live only once the server has our subscription: a round trip after (re)connecting. */
  private async ready(nc: NatsConnection): Promise<void> {
    try {
      await nc.flush();
      this.failures = 0;
      this.connected = !this.closed && !nc.isClosed();
    } catch {
      // disconnected again before the round trip: the next reconnect tries again
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "staleConnection") {
        if (this.connected) console.error("[bus] disconnected from NATS: polling the database until it is back");
        this.connected = false;
      } else if (status.type === "reconnect") {
        await this.ready(nc);
        if (this.connected) console.log(`[bus] reconnected to NATS at ${status.server}`);
      }
    }
  }

  private receive(msg: Msg): void {
    let hint: unknown;
    try {
      hint = msg.data.length <= MAX_HINT_BYTES ? JSON.parse(new TextDecoder().decode(msg.data)) : undefined;
    } catch {
      hint = undefined;
    }
    const parsed = HintSchema.safeParse(hint);
    // a hint comes on the subject it is sent on, or it is not one of ours
    if (!parsed.success || this.subject(parsed.data) !== msg.subject) {
      this.dropped++;
      busHintsDropped.inc();
      // the first few say what came, the rest are only counted
      if (this.dropped <= 5) console.error(`[bus] dropped a malformed hint on ${msg.subject} (${msg.data.length} bytes)`);
      return;
    }
    this.local.publish(parsed.data);
  }
}
