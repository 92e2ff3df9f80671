/** How an agent runs steps: on the host, or in a bubblewrap sandbox. */
export const EXECUTORS = ["host", "sandbox"] as const;
export type Executor = (typeof EXECUTORS)[number];
