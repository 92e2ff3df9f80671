import { monotonicFactory } from "ulid";

/** ULIDs sort by creation time, which gives FIFO order for runs and attempts for free. */
export const newId: () => string = monotonicFactory();
