import { afterAll, beforeAll, expect, test } from "bun:test";
import { PROTOCOL_HEADER, PROTOCOL_VERSION } from "../../shared/protocol/index.ts";
import { AGENT_TOKEN, type InProcess, startInProcess } from "../helpers/in-process.ts";

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
