/** An HTTP receiver on 127.0.0.1 that keeps every JSON body posted to it (run-finished notices, in tests). */
export function startJsonReceiver<T = unknown>(): { url: string; bodies: T[]; stop(): Promise<void> } {
  const bodies: T[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      bodies.push((await req.json()) as T);
      return new Response("ok");
    },
  });
  return { url: `http://127.0.0.1:${server.port}/notify`, bodies, stop: () => server.stop(true) };
}
