/**
 * The agent's side of the raw baselines, in a process of its own like a real agent:
 *   bun ws-peer.ts URL spawn          on each message, spawn `bash -c 'echo x'` and send back its first byte
 *   bun ws-peer.ts URL send BYTES     send BYTES as 256 KiB binary frames, then wait to be closed
 */
const [url, mode, bytes] = process.argv.slice(2);
if (!url || (mode !== "spawn" && mode !== "send")) {
  console.error("usage: bun ws-peer.ts URL spawn | send BYTES");
  process.exit(2);
}

const FRAME = 256 * 1024;
// Paced as the agent sends a log (agent/connection/connection.ts): at most 2 MiB queued in the socket, and a
// 1 ms poll for room (Bun's client has no drain event), not a spin on `bufferedAmount`.
const BACKLOG = 2 * 1024 * 1024;

const ws = new WebSocket(url);
ws.binaryType = "arraybuffer";
ws.onclose = () => process.exit(0);

if (mode === "spawn") {
  ws.onmessage = async () => {
    const proc = Bun.spawn(["bash", "-c", "echo x"], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
    const { value } = await proc.stdout.getReader().read();
    ws.send(value ?? new Uint8Array());
  };
} else {
  const frame = new Uint8Array(FRAME).fill(97);
  let sent = 0;
  const pump = () => {
    for (; sent < Number(bytes); sent += FRAME) {
      if (ws.bufferedAmount > BACKLOG) {
        const poll = setInterval(() => {
          if (ws.bufferedAmount > BACKLOG) return;
          clearInterval(poll);
          pump();
        }, 1);
        return;
      }
      ws.send(sent + FRAME <= Number(bytes) ? frame : frame.subarray(0, Number(bytes) - sent));
    }
  };
  ws.onopen = pump;
}
