import { afterAll } from "bun:test";

// The archive suites again, each cluster storing in a bucket of its own on s3rver: workspaces, caches and
// artifacts then move between the agents and the bucket by presigned URLs, and must behave the same.
process.env.DROVER_TEST_STORAGE = "s3";
await import("./archives.test.ts");
await import("./archive-limits.test.ts");
// bun runs every test file in one process: the files after this one store on posix again
afterAll(() => {
  delete process.env.DROVER_TEST_STORAGE;
});
