import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PROTOCOL_VERSION } from "../../shared/protocol/index.ts";
import { AGENT_TOKEN, type Cluster, startCluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/processes.ts";

let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.startAgent("a1", ["--capacity", "2"]);
});
afterAll(() => cluster.stop());

const expectedLines = Array.from({ length: 1000 }, (_, i) => `line ${i + 1}\n`).join("");

describe("a run end to end", () => {
  test("two tasks run in dependency order and their logs come back byte for byte", async () => {
    const id = await cluster.submit(`tasks:
  first:
    steps:
      - run: printf "hello\\nworld\\n"
  second:
    depends: { first: [on_success] }
    steps:
      - run: for i in $(seq 1 1000); do echo "line $i"; done
      - run: printf '\\x00\\x01\\xff bytes'; echo to-stderr >&2
`);
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("success");
    expect(run.phase).toBe("finished");
    expect(await cluster.log(id, "first", 0)).toBe("hello\nworld\n");
    expect(await cluster.log(id, "second", 0)).toBe(expectedLines);
    const raw = await fetch(`${cluster.coordinator.url}/api/v1/runs/${id}/tasks/second/steps/1/log`, {
      headers: { authorization: "Bearer test-admin-token" },
    });
    expect(new Uint8Array(await raw.arrayBuffer())).toEqual(
      new Uint8Array([0, 1, 0xff, ...new TextEncoder().encode(" bytesto-stderr\n")]),
    );
    const [first, second] = ["first", "second"].map((n) => run.tasks.find((t) => t.name === n)!);
    const firstEnd = (first!.attempts[0] as unknown as { endedAt: number }).endedAt;
    const secondStart = (second!.attempts[0] as unknown as { startedAt: number }).startedAt;
    expect(secondStart).toBeGreaterThanOrEqual(firstEnd);
    // the agent has its attempt dirs spread over the filesystem's block groups (agent/runner/top-dir.ts)
    const attempts = join(cluster.dir, "agent-a1", "attempts");
    const fsType = Bun.spawnSync(["stat", "-f", "-c", "%T", attempts]).stdout.toString().trim();
    if (fsType === "ext2/ext3") expect(Bun.spawnSync(["lsattr", "-d", attempts]).stdout.toString().split(/\s+/)[0]).toContain("T");
  });

  test("a failing command fails its task and the run, with its exit code; dependants are skipped", async () => {
    const id = await cluster.submit(`tasks:
  boom:
    steps:
      - run: echo before; exit 3
      - run: echo never
  after:
    depends: [boom]
    steps: [ { run: echo never } ]
`);
    const run = await cluster.waitRun(id);
    expect(run.result).toBe("failed");
    const boom = run.tasks.find((t) => t.name === "boom")!;
    expect(boom.status).toBe("failed");
    expect(boom.attempts[0]!.exitCode).toBe(3);
    expect(boom.attempts[0]!.steps.map((s) => s.status)).toEqual(["failed", "pending"]);
    expect(run.tasks.find((t) => t.name === "after")!.status).toBe("skipped");
    expect(await cluster.log(id, "boom", 0)).toBe("before\n");
  });

  test("a log can be followed while the step runs", async () => {
    const id = await cluster.submit(`tasks:
  slow:
    steps:
      - run: echo one; sleep 1; echo two
`);
    const res = await waitForLog(id);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("one\n");
    // the first line arrived while the step still slept
    const during = await cluster.api<{ phase: string }>("GET", `/api/v1/runs/${id}`);
    expect(during.body.phase).toBe("running");
    let rest = "";
    for (;;) {
      const part = await reader.read();
      if (part.done) break;
      rest += new TextDecoder().decode(part.value);
    }
    expect(rest).toBe("two\n");
    expect((await cluster.waitRun(id)).result).toBe("success");
  });

  test("followers get every byte once, in order, whether they keep up or fall behind", async () => {
    // ~39 MB of distinct lines, written faster than a slow follower reads; both are there before the first
    const id = await cluster.submit(`tasks:
  slow:
    steps:
      - run: sleep 1; seq 1 5000000
`);
    const expected = Bun.spawnSync(["seq", "1", "5000000"]).stdout;
    const hash = (parts: Uint8Array[]) => {
      const h = new Bun.CryptoHasher("sha256");
      for (const p of parts) h.update(p);
      return h.digest("hex");
    };
    const follow = async (pauseEvery: number) => {
      const parts: Uint8Array[] = [];
      let n = 0;
      for await (const chunk of (await waitForLog(id)).body!) {
        parts.push(chunk);
        if (pauseEvery && ++n % pauseEvery === 0) await Bun.sleep(30);
      }
      return parts;
    };
    const [fast, slow] = await Promise.all([follow(0), follow(3)]);
    expect((await cluster.waitRun(id)).result).toBe("success");
    expect(hash(fast)).toBe(hash([expected]));
    expect(hash(slow)).toBe(hash([expected]));
  });

  test("followers that leave mid-log, caught up or behind, leave no file open in the coordinator", async () => {
    const id = await cluster.submit(`tasks:
  slow:
    steps:
      - run: sleep 1; seq 1 5000000; sleep 1
`);
    const leaveAfter = async (chunks: number, pause: number) => {
      const reader = (await waitForLog(id)).body!.getReader();
      for (let n = 0; n < chunks; n++) {
        if ((await reader.read()).done) break;
        await Bun.sleep(pause);
      }
      await reader.cancel();
    };
    // One follows to the end; once it has 16 MiB, one more joins, which starts at byte 0 and so reads the live
    // file (the step is still running: its log is not stored yet), then leaves; others leave early or fall behind.
    let received = 0;
    let joined: Promise<void> | null = null;
    const whole = (async () => {
      for await (const chunk of (await waitForLog(id)).body!) {
        received += chunk.byteLength;
        if (received >= 16 * 1024 * 1024) joined ??= leaveAfter(3, 0);
      }
    })();
    await Promise.all([whole, leaveAfter(1, 0), leaveAfter(20, 0), leaveAfter(8, 40)]);
    await joined;
    expect(received).toBe(38_888_896);
    expect((await cluster.waitRun(id)).result).toBe("success");
    const data = join(cluster.dir, "data");
    const fds = `/proc/${cluster.coordinator.proc.pid}/fd`;
    const open = () =>
      readdirSync(fds)
        .map((fd) => {
          try {
            return readlinkSync(join(fds, fd));
          } catch {
            return "";
          }
        })
        .filter((target) => target.startsWith(data) && target.includes(".log"));
    // Handles close on the thread pool as each reader stops: a moment, not long enough for a collection to
    // close a forgotten one behind our back.
    await waitFor("the coordinator to close the log files", () => (open().length === 0 ? true : undefined), 500).catch(() => {});
    expect(open()).toEqual([]);
  });
});

test("two steps writing at once through one agent connection each store their whole log", async () => {
  // ~50 MB each, catted faster than one connection carries: the agent's socket fills and each log waits its turn
  const id = await cluster.submit(`tasks:
  a:
    steps: [ { run: "seq -f 'a%.0f' 1 3000000 > lines && cat lines lines" } ]
  b:
    steps: [ { run: "seq -f 'b%.0f' 1 3000000 > lines && cat lines lines" } ]
`);
  expect((await cluster.waitRun(id, 60_000)).result).toBe("success");
  for (const task of ["a", "b"]) {
    const lines = Bun.spawnSync(["seq", "-f", `${task}%.0f`, "1", "3000000"]).stdout;
    const expected = Buffer.concat([lines, lines]);
    const log = new Uint8Array(await (await fetch(`${cluster.coordinator.url}/api/v1/runs/${id}/tasks/${task}/steps/0/log`, { headers: { authorization: "Bearer test-admin-token" } })).arrayBuffer());
    expect(log.length).toBe(expected.length);
    expect(Bun.hash(log)).toBe(Bun.hash(expected));
  }
});

/** Follows task `slow`'s first step log once it can be followed (404 until the task has its first attempt). */
function waitForLog(id: string): Promise<Response> {
  return waitFor(
    `run ${id}'s log to be followable`,
    async () => {
      const res = await fetch(`${cluster.coordinator.url}/api/v1/runs/${id}/tasks/slow/steps/0/log?follow=1`, {
        headers: { authorization: "Bearer test-admin-token" },
      });
      if (res.status === 200) return res;
      await res.body?.cancel();
      return undefined;
    },
    10_000,
  );
}

describe("tokens", () => {
  test("no token and a wrong token get 401 with the JSON error shape", async () => {
    const none = await fetch(`${cluster.coordinator.url}/api/v1/runs`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    const wrong = await cluster.api<{ error: { code: string; message: string } }>("GET", "/api/v1/runs", undefined, "nope");
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toContain("invalid");
  });

  test("the agent token cannot use the admin API (403)", async () => {
    const res = await cluster.api<{ error: { code: string } }>("GET", "/api/v1/runs", undefined, AGENT_TOKEN);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("forbidden");
  });

  test("an agent connection without the agent token is refused", async () => {
    const res = await fetch(`${cluster.coordinator.url}/agent/v1/connect`, { headers: { authorization: "Bearer nope" } });
    expect(res.status).toBe(401);
  });
});

describe("protocol", () => {
  function connect(): Promise<{ ws: WebSocket; frames: unknown[]; closed: Promise<{ code: number }> }> {
    const ws = new WebSocket(`${cluster.coordinator.url.replace("http", "ws")}/agent/v1/connect`, {
      headers: { authorization: `Bearer ${AGENT_TOKEN}` },
    } as unknown as string[]);
    const frames: unknown[] = [];
    ws.onmessage = (e) => frames.push(JSON.parse(String(e.data)));
    const closed = new Promise<{ code: number }>((resolve) => {
      ws.onclose = (e) => resolve({ code: e.code });
    });
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve({ ws, frames, closed });
      ws.onerror = reject;
    });
  }
  const hello = (over: Record<string, unknown> = {}) =>
    JSON.stringify({
      type: "hello",
      protocol: PROTOCOL_VERSION,
      version: "test",
      name: "rogue",
      archs: ["amd64"],
      group: "nowhere",
      labels: {},
      capacity: 1,
      resources: { cpu: 1, memoryBytes: 1 },
      dynamic: false,
      executor: "host",
      limits: { memory: null, pids: null },
      host: "h",
      workDir: "/nonexistent",
      running: [],
      ...over,
    });
  const until = async (frames: unknown[], n: number) => {
    await waitFor(`${n} frames from the coordinator`, () => frames.length >= n, 5_000).catch((e: Error) => {
      throw new Error(`${e.message}; got ${frames.length}: ${JSON.stringify(frames)}`);
    });
    return frames as { type: string; code?: string; message?: string }[];
  };

  test("malformed, oversized and foreign frames get protocol errors and harm nothing", async () => {
    const { ws, frames } = await connect();
    ws.send("not json");
    ws.send(JSON.stringify({ type: "result", id: "x" }));
    ws.send(new Uint8Array([9, 9, 9]));
    ws.send(hello());
    await until(frames, 4);
    ws.send(JSON.stringify({ type: "nonsense" }));
    ws.send("x".repeat(300 * 1024));
    ws.send(JSON.stringify({ type: "accept", id: "r1", attempt: "01NOTMINE" }));
    ws.send(new Uint8Array([1, 9, ...new TextEncoder().encode("01NOTMINE"), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 65]));
    // one answer each, and the foreign accept an ack besides its error: 4 + 5 frames
    const got = await until(frames, 9);
    const errors = got.filter((f) => f.type === "error");
    expect(errors.length).toBeGreaterThanOrEqual(7);
    expect(errors.every((e) => e.code === "protocol_error")).toBe(true);
    expect(got.some((f) => f.type === "welcome")).toBe(true);
    ws.close();
    // the coordinator still runs other agents' work
    const id = await cluster.submit("tasks:\n  ok:\n    steps: [ { run: echo fine } ]\n");
    expect((await cluster.waitRun(id)).result).toBe("success");
    expect(await cluster.log(id, "ok", 0)).toBe("fine\n");
  });

  test("a malformed heartbeat gets the schema's protocol error and renews nothing; a plain one its lease frame", async () => {
    const { ws, frames } = await connect();
    ws.send(JSON.stringify({ type: "heartbeat", seq: 1 }));
    ws.send(hello());
    await until(frames, 2);
    ws.send(JSON.stringify({ type: "heartbeat", seq: -1 }));
    ws.send(JSON.stringify({ type: "heartbeat", seq: "7" }));
    ws.send('{"type":"heartbeat","seq":3,"type":"other"}');
    ws.send(JSON.stringify({ type: "heartbeat", seq: 4 }));
    const got = await until(frames, 6);
    expect(got.map((f) => f.type)).toEqual(["error", "welcome", "error", "error", "error", "lease"]);
    expect(got[0]!.message).toContain("heartbeat before hello");
    expect(got[2]!.message).toContain("invalid frame");
    expect(got[3]!.message).toContain("invalid frame");
    expect(got[4]!.message).toContain("invalid frame");
    expect((got[5] as unknown as { seq: number }).seq).toBe(4);
    ws.close();
  });

  test("an agent with an incompatible protocol version is refused with what to upgrade", async () => {
    const { ws, frames, closed } = await connect();
    ws.send(hello({ protocol: PROTOCOL_VERSION - 1 }));
    const got = await until(frames, 1);
    expect(got[0]!.type).toBe("refuse");
    expect(got[0]!.code).toBe("incompatible_version");
    expect(got[0]!.message).toContain("upgrade the agent");
    expect((await closed).code).toBe(4000);
  });

  test("a returning agent id with the wrong credential is refused", async () => {
    const agents = await cluster.api<{ agents: { id: string; name: string }[] }>("GET", "/api/v1/agents");
    const a1 = agents.body.agents.find((a) => a.name === "a1")!;
    const { ws, frames } = await connect();
    ws.send(hello({ id: a1.id, credential: "stolen" }));
    const got = await until(frames, 1);
    expect(got[0]!.type).toBe("refuse");
  });
});
