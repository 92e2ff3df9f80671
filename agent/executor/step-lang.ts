/** The LANG a step gets unless its task sets one: the agent's own. */
export const STEP_LANG = process.env.LANG ?? "C.UTF-8";
