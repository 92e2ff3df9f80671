// The database's tables, by what they hold (tables/); drizzle-kit reads them all from here (drizzle.config.ts).
export * from "./tables/runs.ts";
export * from "./tables/projects.ts";
export * from "./tables/fleet.ts";
export * from "./tables/objects.ts";
export * from "./tables/api-tokens.ts";
export * from "./tables/run-groups.ts";
export * from "./tables/triggers.ts";
export * from "./tables/test-cases.ts";
export * from "./tables/cluster.ts";
