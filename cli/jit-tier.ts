import { dlopen, FFIType, ptr } from "bun:ffi";

/** What JavaScriptCore reads at start for its top JIT tier (FTL); only at start, so a change takes a new process. */
const TOP_TIER = "BUN_JSC_useFTLJIT";

/** The command line that runs this program again: a compiled binary holds its own entry point, `bun` is given it. */
function ownCommand(): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/");
  return compiled ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}

const openLibc = () => dlopen("libc.so.6", { execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 } });

const cString = (s: string) => Buffer.from(`${s}\0`);

/**
 * Makes this process run again without JavaScriptCore's top tier, unless its environment already says which to use
 * (`BUN_JSC_useFTLJIT=1` keeps it). In place, by execve: the same pid, open files, arguments and environment, so a
 * supervisor, a pid file or a kill see one process. Returns only when it did not (no libc to call: it runs on as is).
 *
 * Why: the coordinator's work per task is short and varied, and on a machine whose cores it shares (with agents, or
 * other nodes) the top tier's background compiles cost more CPU than its code saves. BENCHMARKS.md has the figures.
 */
export function restartWithoutTopTier(): void {
  if (process.env[TOP_TIER] !== undefined) return;
  let libc: ReturnType<typeof openLibc>;
  try {
    libc = openLibc();
  } catch {
    return;
  }
  const command = ownCommand();
  const env = Object.entries({ ...process.env, [TOP_TIER]: "0" }).map(([k, v]) => `${k}=${v}`);
  // the strings stay referenced until execve has copied them
  const strings = [command, env].map((list) => list.map(cString));
  const [argv, envp] = strings.map((list) => {
    const pointers = new BigUint64Array(list.length + 1);
    list.forEach((s, i) => {
      pointers[i] = BigInt(ptr(s));
    });
    return pointers;
  });
  const path = cString(command[0]!);
  libc.symbols.execve(ptr(path), ptr(argv!), ptr(envp!));
  console.error(`drover: could not restart without the JIT's top tier (execve failed); running on with it`);
}
