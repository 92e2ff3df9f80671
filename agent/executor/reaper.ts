// A step's supervisor where no cgroup holds the step (executor.ts runs this file's text with `bun -e`, the agent's
// own binary acting as bun, so it imports nothing of the project). It makes itself the step's child subreaper
// (PR_SET_CHILD_SUBREAPER): whatever the step leaves behind — a setsid'd process, a double-forked daemon, a process
// in a group of its own, with or without the attempt id in its environment — is reparented to it instead of to
// init. Once the step's first process exits it kills its children until none is left (each kill reparents the
// killed one's children to it), reaps them, and exits as the step did. Arguments: the step's dir, then its argv.
import { readdirSync, readFileSync } from "node:fs";
import { dlopen, FFIType, ptr } from "bun:ffi";

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;
const libc = dlopen("libc.so.6", {
  prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
  waitpid: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
}).symbols;

if (libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) !== 0) {
  console.error("drover: the step's supervisor cannot become a child subreaper");
  process.exit(125);
}
// the agent signals the step's whole tree itself; a supervisor ended by SIGTERM would hand the step's orphans to init
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => {});

/** This process's live children (a zombie is reaped, not killed). */
function children(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // state and ppid follow the command name, which may hold spaces and parentheses
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(ppid) === process.pid && state !== "Z") found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const [dir, ...argv] = process.argv.slice(1);
const env = { ...process.env };
delete env.BUN_BE_BUN;
const step = Bun.spawn(argv, { cwd: dir, env, stdio: ["ignore", 1, 2, 3] });
const code = await step.exited;
const status = new Int32Array(1);
for (;;) {
  while (libc.waitpid(-1, ptr(status), WNOHANG) > 0);
  const left = children();
  if (left.length === 0) break;
  for (const pid of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  await Bun.sleep(1);
}
// dies of the step's signal, so the agent reports it as the step's
const signal = step.signalCode as NodeJS.Signals | null;
if (signal) {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
}
process.exit(code);
