import { readFileSync } from "node:fs";

export interface RunAs {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The user steps run as (`--run-as`), from /etc/passwd; only an agent running as root can switch. */
export function resolveRunAs(name: string): RunAs {
  if (process.getuid?.() !== 0) throw new Error(`--run-as ${name} needs the agent to run as root (it runs as uid ${process.getuid?.()})`);
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.split(":")[0] === name);
  if (!line) throw new Error(`--run-as ${name}: no such user in /etc/passwd`);
  const [, , uid, gid, , home] = line.split(":");
  if (Number(uid) === 0) throw new Error(`--run-as ${name}: that is root; pick an unprivileged user`);
  return { name, uid: Number(uid), gid: Number(gid), home: home || "/" };
}

/** The command prefix that drops to the user: its uid, gid and groups, and no capabilities left over. */
export function runAsArgs(user: RunAs): string[] {
  return ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", "--"];
}
