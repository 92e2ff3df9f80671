import { setDefaultTimeout } from "bun:test";

// bunfig's [test] timeout is not applied by bun 1.4.4; e2e suites start real processes and need more than 5 s.
setDefaultTimeout(60_000);
