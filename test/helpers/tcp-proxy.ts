import type { Socket } from "bun";

export interface TcpProxy {
  port: number;
  /** closes every connection through the proxy, as a network cut would */
  cut(): number;
  stop(): void;
}

interface Pair {
  client: Socket<Pair>;
  upstream: Socket<{ peer: Socket<Pair> }> | null;
  pending: Uint8Array[];
}

/** A loopback TCP proxy in the test process, to cut an agent's connection mid-stream. */
export function startTcpProxy(targetPort: number): TcpProxy {
  const pairs = new Set<Pair>();
  const server = Bun.listen<Pair>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const pair: Pair = { client, upstream: null, pending: [] };
        client.data = pair;
        pairs.add(pair);
        void Bun.connect<{ peer: Socket<Pair> }>({
          hostname: "127.0.0.1",
          port: targetPort,
          data: { peer: client },
          socket: {
            open(up) {
              pair.upstream = up;
              for (const chunk of pair.pending) up.write(chunk);
              pair.pending = [];
            },
            data(up, chunk) {
              up.data.peer.write(chunk);
            },
            close(up) {
              up.data.peer.end();
            },
            error(up) {
              up.data.peer.end();
            },
          },
        }).catch(() => client.end());
      },
      data(client, chunk) {
        const pair = client.data;
        if (pair.upstream) pair.upstream.write(chunk);
        else pair.pending.push(new Uint8Array(chunk));
      },
      close(client) {
        client.data.upstream?.end();
        pairs.delete(client.data);
      },
    },
  });
  return {
    port: server.port,
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
