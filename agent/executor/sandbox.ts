import { statSync } from "node:fs";

/** What a sandboxed step is given and what it must not see. */
export interface SandboxSpec {
  /** the agent's work root: identity, lease, other attempts, kept workspaces and spooled logs; hidden whole */
  workRoot: string;
  /**
   * the attempt's work dir (the only writable place besides the private /tmp and /dev/shm), bound at its path; or for
   * a sandbox started ahead, the slot its attempt's dir will be moved into (warm-sandbox.ts), bound at `at`, the dir
   * that attempts' dirs are in
   */
  work: { dir: string } | { slot: string; at: string };
  /** files and dirs to hide besides (the token file, --sandbox-hide paths) */
  hide: string[];
  /** host dirs seen read-only even under a hidden or private one (the hooks dir) */
  readOnly: string[];
  network: boolean;
  env: Record<string, string>;
}

/**
 * bubblewrap's arguments for one step: new user, PID, IPC, UTS, cgroup and (unless `network`) network
 * namespaces, and no capabilities in them; the host read-only, with a fresh /proc (only the sandbox's processes),
 * /dev, /tmp and /dev/shm; the agent's work root and the hidden paths replaced by empty ones; the attempt's dir bound
 * back writable. The environment is exactly the step's (--clearenv). Dies with the agent's child that started it.
 */
export function sandboxArgs(spec: SandboxSpec): string[] {
  // no capabilities: bubblewrap run by root leaves them all to the step otherwise (in its namespaces), and with them it
  // could unmount what hides the agent's files
  const args = ["bwrap", "--unshare-all", "--cap-drop", "ALL"];
  if (spec.network) args.push("--share-net");
  args.push("--die-with-parent", "--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc");
  args.push("--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/dev/shm", "--tmpfs", "/run");
  // the agent's home holds its user's credentials (~/.ssh, ~/.config, and by default the work root): an empty one
  const home = process.env.HOME;
  const privateDirs = home && home !== "/" ? [home] : [];
  for (const path of [...privateDirs, spec.workRoot, ...spec.hide]) {
    let dir = false;
    try {
      dir = statSync(path).isDirectory();
    } catch {
      continue;
    }
    // a file is replaced by an empty one; a dir by an empty tmpfs
    args.push(...(dir ? ["--tmpfs", path] : ["--ro-bind", "/dev/null", path]));
  }
  for (const path of spec.readOnly) args.push("--ro-bind", path, path);
  const work = spec.work;
  args.push(...("dir" in work ? ["--bind", work.dir, work.dir, "--chdir", work.dir] : ["--bind", work.slot, work.at]), "--clearenv");
  for (const [k, v] of Object.entries(spec.env)) args.push("--setenv", k, v);
  args.push("--");
  return args;
}

/** Why this machine cannot make a sandbox, or null when a trial one ran. */
export function sandboxUnavailable(): string | null {
  if (!Bun.which("bwrap")) return "bwrap is not installed (Debian: apt-get install bubblewrap)";
  // with the options every step's sandbox has that an old bwrap may not know
  const trial = Bun.spawnSync(["bwrap", "--unshare-all", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"], {
    stderr: "pipe",
  });
  if (trial.exitCode === 0) return null;
  const said = trial.stderr.toString().trim();
  const hint = /namespace|Operation not permitted|Permission denied/i.test(said)
    ? " (user namespaces are blocked: see sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces, or AppArmor's restrict_unprivileged_userns)"
    : "";
  return `bwrap cannot make a sandbox here: ${said || `exit ${trial.exitCode}`}${hint}`;
}
