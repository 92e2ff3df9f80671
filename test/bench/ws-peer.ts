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
// Same in-flight limit as the agent's log window, so neither side gets to buffer the whole stream in memory.
const WINDOW = 8 * 1024 * 1024;

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
  ws.onopen = async () => {
    const frame = new Uint8Array(FRAME).fill(97);
    for (let sent = 0; sent < Number(bytes); sent += FRAME) {
      while (ws.bufferedAmount > WINDOW) await Bun.sleep(0);
      ws.send(sent + FRAME <= Number(bytes) ? frame : frame.subarray(0, Number(bytes) - sent));
    }
  };
}
