import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { multipart } from "../../cli/multipart.ts";
import { ADMIN_TOKEN, type Cluster, startCluster } from "../helpers/cluster.ts";

// A run submitted with the files it runs on (`drover run`): a multipart body whose workspace part goes to storage as it
// arrives, its fields bounded, anything else refused, and nothing left stored when the run is refused.

const MiB = 1024 * 1024;
const PIPELINE = "tasks:\n  t:\n    steps: [ { run: ls } ]\n";

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(() => cluster?.stop());

const rssMiB = () => Number(readFileSync(`/proc/${cluster.coordinator.proc.pid}/status`, "utf8").match(/^VmRSS:\s+(\d+)/m)![1]) / 1024;
/** The uploads stored now (the posix store's dir of them). */
const uploads = () => {
  const dir = join(cluster.storage, "uploads");
  return existsSync(dir) ? readdirSync(dir) : [];
};

/** `mib` MiB of random bytes, a MiB at a time. */
async function* bytes(mib: number): AsyncGenerator<Uint8Array> {
  const piece = crypto.getRandomValues(new Uint8Array(MiB));
  for (let i = 0; i < mib; i++) yield piece;
}

async function submit(body: ReadableStream<Uint8Array> | string, contentType: string) {
  const res = await fetch(`${cluster.coordinator.url}/api/v1/runs`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": contentType },
    body,
  });
  return { status: res.status, body: (await res.json()) as { id?: string; workspace?: string; error?: { message: string } } };
}

describe.skipIf(process.env.DROVER_TEST_STORAGE === "s3")("a run submitted with its workspace", () => {
  test("a 300 MiB workspace goes to storage as it arrives: the coordinator's memory grows by well under its size", async () => {
    const { body, contentType } = multipart(
      { pipeline: PIPELINE },
      { field: "workspace", filename: "workspace.tar.gz", type: "application/gzip", body: bytes(300) },
    );
    const before = rssMiB();
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB());
    }, 10);
    const created = await submit(body, contentType).finally(() => clearInterval(sampler));
    expect(created.status).toBe(201);
    // FormData held the whole body twice over: 96 → 654 MiB
    expect(peak - before).toBeLessThan(100);
    console.log(`a 300 MiB workspace submitted: the coordinator's RSS ${Math.round(before)} → ${Math.round(peak)} MiB at most`);
    // the run names its upload (the tests run in any order: others may have stored theirs)
    expect(created.body.workspace).toStartWith("uploads/");
    expect(Bun.file(join(cluster.storage, created.body.workspace!)).size).toBe(300 * MiB);
    await cluster.api("POST", `/api/v1/runs/${created.body.id}/cancel`);
  }, 60_000);

  test("a file other than the workspace, too many fields or a field past 16 MiB are refused, and a refused run leaves no upload behind", async () => {
    const file = (field = "workspace") => ({ field, filename: "w.tar.gz", type: "application/gzip", body: bytes(2) });
    // a field it does not know is ignored, as a JSON submission's unknown keys are
    const known = multipart({ pipeline: PIPELINE, colour: "red" }, file());
    const accepted = await submit(known.body, known.contentType);
    expect(accepted.status).toBe(201);
    await cluster.api("POST", `/api/v1/runs/${accepted.body.id}/cancel`);
    const before = uploads().length;
    const cases: [Record<string, string>, ReturnType<typeof file> | null, number, string][] = [
      [{ pipeline: "tasks: [", colour: "red" }, file(), 400, ""],
      [Object.fromEntries([["pipeline", PIPELINE], ...Array.from({ length: 16 }, (_, i) => [`f${i}`, "x"])]), file(), 400, "at most 16 fields"],
      [{ pipeline: PIPELINE }, file("other"), 400, 'not "other"'],
      [{ pipeline: "x".repeat(17 * MiB) }, file(), 413, "field pipeline may be at most 16.0 MiB"],
      [{ pipeline: "tasks: [" }, file(), 400, ""],
      [{ pipeline: PIPELINE, variables: "{not json" }, file(), 400, "field variables is not JSON"],
    ];
    for (const [fields, part, status, message] of cases) {
      const { body, contentType } = multipart(fields, part ?? file());
      const refused = await submit(body, contentType);
      expect(refused.status, JSON.stringify(refused.body)).toBe(status);
      expect(refused.body.error?.message).toContain(message);
    }
    const damaged = await submit("--b\r\ncontent-disposition: form-data; name=\"pipeline\"\r\n\r\nunterminated", "multipart/form-data; boundary=b");
    expect(damaged.status).toBe(400);
    expect(uploads().length).toBe(before);
  }, 60_000);
});
