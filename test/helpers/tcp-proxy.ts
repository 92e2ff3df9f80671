import type { Socket } from "bun";

export interface TcpProxy {
  port: number;
  /** bytes passed from clients to the target so far */
  bytesUp(): number;
  /** closes every connection through the proxy, as a network cut would */
  cut(): number;
  /** from now on nothing passes and nothing closes: a peer that vanished without a word, as a dead machine does */
  freeze(): void;
  stop(): void;
}

/** One direction of a connection: bytes the peer socket has not taken yet wait here until it drains. */
class Pipe {
  private backlog: Uint8Array[] = [];
  target: Socket<unknown> | null = null;

  push(chunk: Uint8Array): void {
    this.backlog.push(new Uint8Array(chunk));
    this.flush();
  }

  flush(): void {
    const target = this.target;
    if (!target) return;
    while (this.backlog.length > 0) {
      const head = this.backlog[0]!;
      const written = target.write(head);
      if (written < head.length) {
        this.backlog[0] = head.subarray(Math.max(0, written));
        return;
      }
      this.backlog.shift();
    }
  }
}

interface Pair {
  client: Socket<Pair>;
  upstream: Socket<Pair> | null;
  toUpstream: Pipe;
  toClient: Pipe;
}

/** A loopback TCP proxy in the test process, to cut a connection mid-stream. */
export function startTcpProxy(targetPort: number, listenPort = 0): TcpProxy {
  const pairs = new Set<Pair>();
  let up = 0;
  let frozen = false;
  const server = Bun.listen<Pair>({
    hostname: "127.0.0.1",
    port: listenPort,
    socket: {
      open(client) {
        const pair: Pair = { client, upstream: null, toUpstream: new Pipe(), toClient: new Pipe() };
        pair.toClient.target = client as Socket<unknown>;
        client.data = pair;
        pairs.add(pair);
        void Bun.connect<Pair>({
          hostname: "127.0.0.1",
          port: targetPort,
          data: pair,
          socket: {
            open(upstream) {
              pair.upstream = upstream;
              pair.toUpstream.target = upstream as Socket<unknown>;
              pair.toUpstream.flush();
            },
            data(upstream, chunk) {
              if (!frozen) upstream.data.toClient.push(chunk);
            },
            drain(upstream) {
              upstream.data.toUpstream.flush();
            },
            close(upstream) {
              if (!frozen) upstream.data.client.end();
            },
            error(upstream) {
              if (!frozen) upstream.data.client.end();
            },
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        if (frozen) return;
        up += chunk.length;
        client.data.toUpstream.push(chunk);
      },
      drain(client) {
        client.data.toClient.flush();
      },
      close(client) {
        if (!frozen) client.data.upstream?.end();
        pairs.delete(client.data);
      },
    },
  });
  return {
    port: server.port,
    bytesUp: () => up,
    freeze() {
      frozen = true;
    },
    cut() {
      const n = pairs.size;
      for (const pair of pairs) {
        pair.client.terminate();
        pair.upstream?.terminate();
      }
      pairs.clear();
      return n;
    },
    stop() {
      this.cut();
      server.stop(true);
    },
  };
}
