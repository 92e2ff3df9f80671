import { afterAll } from "bun:test";

// The archive suites again, each cluster storing in a bucket of its own on s3rver: workspaces, caches and
// artifacts then move between the agents and the bucket by presigned URLs, and must behave the same.
process.env.DROVER_TEST_STORAGE = "s3";
const QUERY = "storage=s3";
// a query of its own: a plain import would be the module archives.test.ts already loaded (or loads later), whose tests ran once
await import(`./archives.test.ts?${QUERY}`);
await import(`./archive-limits.test.ts?${QUERY}`);
// bun runs every test file in one process: the files after this one store on posix again
afterAll(() => {
  delete process.env.DROVER_TEST_STORAGE;
});
