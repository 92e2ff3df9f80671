/**
 * A PID namespace of its own for each host step, where this agent may make one: util-linux's `unshare` with a new
 * PID namespace and a fresh /proc in a mount namespace of its own (mounts of the host still reach it: propagation
 * slave), nothing else. A root agent needs nothing more; an unprivileged one needs a user namespace too, which maps
 * its uid and gid to themselves (`--map-current-user`). Inside, the step's start script (step-start.sh, `init`)
 * is PID 1: it runs the step's shell as its child and exits as it does, and the kernel then kills everything left
 * in the namespace. The step's shell is PID 2, so it takes signals as it would on the host (a PID 1 ignores those
 * it has no handler for, its own `kill $$` included). `--kill-child` ends the namespace when `unshare` itself is
 * killed (by the agent or the watchdog).
 */
export interface PidNamespace {
  /** the command prefix, the step's first process (unshare needs the agent's privileges: before any setpriv) */
  args: string[];
}

/** What a host agent's steps get (logged when it is none); a sandbox agent's steps have the sandbox's namespace. */
export function hostPidNamespace(config: { executor: string; pidNamespace: boolean }): PidNamespace | { unavailable: string } {
  if (config.executor !== "host") return { unavailable: "the sandbox makes its own" };
  const found = config.pidNamespace ? detectPidNamespace() : { unavailable: "turned off (--no-pid-namespace)" };
  if ("unavailable" in found) console.error(`[agent] host steps get no PID namespace of their own: ${found.unavailable}`);
  return found;
}

/** The namespace's prefix for an agent of this uid: a root agent needs no user namespace. */
export function pidNamespaceArgs(uid: number): string[] {
  const args = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "slave"];
  if (uid !== 0) args.splice(1, 0, "--map-current-user");
  return args;
}

/**
 * Tries one: a step's PID namespace, or why this agent cannot make one (then it keeps its cgroups or the subreaper
 * supervisor). The trial checks what a step relies on: its PID 1 is the command given, and /proc is the namespace's.
 */
export function detectPidNamespace(uid = process.getuid?.() ?? -1): PidNamespace | { unavailable: string } {
  if (!Bun.which("unshare")) return { unavailable: "unshare is not installed (util-linux)" };
  const args = pidNamespaceArgs(uid);
  // /proc/self is read by bash itself (a builtin's redirection): its pid as the mounted /proc counts them
  const trial = Bun.spawnSync([...args, "bash", "-c", 'read -r self _ </proc/self/stat; test "$$-$self" = 1-1'], {
    stderr: "pipe",
    stdout: "ignore",
  });
  if (trial.exitCode === 0) return { args };
  const said = trial.stderr.toString().trim().split("\n")[0];
  const hint = uid !== 0 && /Operation not permitted|Permission denied|No space left/i.test(said ?? "") ? " (user namespaces are blocked for this user)" : "";
  return { unavailable: `${args.join(" ")} failed: ${said || `exit ${trial.exitCode}`}${hint}` };
}
