import { afterAll, beforeAll, expect, test } from "bun:test";
import { PROTOCOL_HEADER, PROTOCOL_VERSION } from "../../shared/protocol/index.ts";
import { AGENT_TOKEN, type InProcess, startInProcess } from "../helpers/in-process.ts";
import { waitFor } from "../helpers/processes.ts";

let h: InProcess;
beforeAll(async () => {
  h = await startInProcess();
});
afterAll(() => h.stop());

test("the archive API refuses an agent of another protocol version, naming both, as the WebSocket does", async () => {
  const get = (version?: string) =>
    h.coordinator.app.request("/agent/v1/attempts/nope/workspaces", {
      headers: { authorization: `Bearer ${AGENT_TOKEN}`, ...(version === undefined ? {} : { [PROTOCOL_HEADER]: version }) },
    });
  for (const version of [undefined, "2", String(PROTOCOL_VERSION + 1)]) {
    const res = await get(version);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("incompatible_version");
    expect(body.error.message).toContain(`this coordinator speaks ${PROTOCOL_VERSION}`);
  }
  // the right version gets as far as the attempt check
  expect((await get(String(PROTOCOL_VERSION))).status).toBe(403);
});

test("an agent may read and write its attempt's archives once assigned, before its accept is applied (the two travel apart)", async () => {
  const agent = await h.agent("unhurried", { silent: true });
  await h.submit("tasks:\n  t:\n    steps: [ { run: 'echo x' } ]\n");
  const attempt = await waitFor(
    "an assignment",
    () => agent.received.flatMap((m) => (m.type === "assign" ? [m.assignment.attempt] : []))[0],
    5000,
    10,
  );
  const res = await h.coordinator.app.request(`/agent/v1/attempts/${attempt}/workspaces`, {
    headers: { authorization: `Bearer ${agent.credential}`, "x-drover-agent": agent.id!, [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) },
  });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { archives: unknown[] }).archives).toEqual([]);
  // a step's upload can come before its attempt's accept too (under load, the reports wait their turn)
  const headers = { authorization: `Bearer ${agent.credential}`, "x-drover-agent": agent.id!, [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) };
  const plan = await h.coordinator.app.request(`/agent/v1/attempts/${attempt}/uploads`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ target: { kind: "artifact", path: "early.txt" } }),
  });
  expect(plan.status).toBe(200);
  const put = await h.coordinator.app.request(`/agent/v1/attempts/${attempt}/artifacts/early.txt`, { method: "PUT", headers, body: "early\n" });
  expect(put.status).toBe(201);
  agent.crash();
});
