import { text } from "drizzle-orm/sqlite-core";

/** A text column holding JSON, typed as `T` in TypeScript. */
export const json = <T>(name: string) => text(name, { mode: "json" }).$type<T>();
