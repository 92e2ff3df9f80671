/**
 * Runs work nobody awaits, logging its failure: a rejected promise left alone
 * would end the whole process, and one failed pass (a busy database, a broken
 * socket) must not take the coordinator or the agent down with it.
 */
export function background(what: string, work: Promise<unknown>): void {
  work.catch((e) => console.error(`[${what}] failed:`, e));
}
