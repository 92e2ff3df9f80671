import { libc } from "../../shared/libc.ts";

// <linux/prctl.h>
const PR_SET_DUMPABLE = 4;

/**
 * Makes this process non-dumpable: its /proc/<pid>/environ and memory are then readable, and the process
 * traceable, by root only, not by other processes of the same user (a step run as the agent's user). A token
 * given in DROVER_AGENT_TOKEN stays in the process's environ, so this is what keeps it out of a step's reach.
 * Children are not affected: exec makes them dumpable again. Returns whether it took.
 */
export function makeUndumpable(): boolean {
  return libc()?.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) === 0;
}
