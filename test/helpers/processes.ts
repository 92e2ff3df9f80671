import { afterAll } from "bun:test";
import type { Subprocess } from "bun";

const started = new Set<Subprocess>();

/** Every process a test starts is its own process group, so ending it ends its children too. */
export function spawnTracked(cmd: string[], opts: { env?: Record<string, string | undefined>; cwd?: string; stdin?: string } = {}) {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    env: { ...process.env, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  started.add(proc);
  void proc.exited.then(() => started.delete(proc));
  return proc;
}

export function killGroup(proc: Subprocess, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // already gone
  }
}

/** Ends the given processes (all this test file started, by default): SIGTERM, then SIGKILL after 3 s. */
export async function stopAll(procs: Iterable<Subprocess> = started): Promise<void> {
  const list = [...procs];
  for (const proc of list) killGroup(proc, "SIGTERM");
  const deadline = Date.now() + 3000;
  while (list.some((p) => p.exitCode === null && p.signalCode === null) && Date.now() < deadline) await Bun.sleep(20);
  for (const proc of list) killGroup(proc, "SIGKILL");
}

process.on("exit", () => {
  for (const proc of started) killGroup(proc, "SIGKILL");
});
// A --parallel worker runs file after file and exits only at the end: what a file started (an agent run as
// another user, one spawned by hand) ends with the file, not hours later. (Benchmarks import this too.)
if (process.env.NODE_ENV === "test") afterAll(() => stopAll());

/** Polls `check` every `everyMs` until it returns a value (neither undefined nor false), failing after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** Collects a stream's text as it arrives, so a test can wait for a line. */
export function captureOutput(stream: ReadableStream<Uint8Array>): { text: () => string } {
  let text = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })();
  return { text: () => text };
}

/** Live processes whose command line contains `pattern`; zombies (state Z, left unreaped here) do not count. */
export function liveProcesses(pattern: string): number {
  const ps = Bun.spawnSync(["bash", "-c", `ps -eo stat=,args= | grep -v grep | grep -v '^Z' | grep -c -- '${pattern}' || true`]);
  return Number(ps.stdout.toString().trim());
}
