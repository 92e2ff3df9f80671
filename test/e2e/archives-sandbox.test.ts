import { afterAll } from "bun:test";

// The archive suite again, against an agent with the sandbox executor: workspaces, caches, artifacts, secret
// redaction and log streaming must work the same when steps run in bubblewrap.
process.env.DROVER_TEST_EXECUTOR = "sandbox";
const QUERY = "executor=sandbox";
// a query of its own: a plain import would be the module archives.test.ts already loaded (or loads later), whose tests ran once
await import(`./archives.test.ts?${QUERY}`);
// bun runs every test file in one process: the files after this one start host agents again
afterAll(() => {
  delete process.env.DROVER_TEST_EXECUTOR;
});
