import { expect, test } from "bun:test";
import { openObjectStore } from "../../coordinator/store/open.ts";
import { agentOnNodes, nodeApi, nodeLog, registrations, waitRunOn, s3NodesPerFile } from "../helpers/nodes.ts";
import { killGroup, waitFor } from "../helpers/processes.ts";

// Two coordinators on one database and one bucket: an agent's upload to the bucket goes on through the
// other node when its node dies mid-upload, since every node derives the same key from the attempt.
const files = s3NodesPerFile("drover-direct-cluster", (s3) => `${s3.spec}&partMiB=8`);

test("kill -9 of the agent's node mid-upload: the multipart upload goes on through the other node and is recorded once", async () => {
  const { cluster, nodes, spec } = files;
  const { agent, held, other } = await agentOnNodes(cluster, nodes, "roamer");
  const { id } = await nodeApi<{ id: string }>(held, "POST", "/api/v1/runs", {
    group: "direct-cluster",
    pipeline: `tasks:
  t:
    steps:
      - run: head -c 250000000 /dev/urandom > big.bin && sha256sum big.bin | cut -c1-64
      - save_to_workspace: { paths: [big.bin] }
  check:
    depends: [t]
    steps:
      - restore_workspace: {}
      - run: sha256sum big.bin | cut -c1-64 && rm big.bin
`,
  });
  const direct = openObjectStore(spec).direct!;
  const [upload] = await waitFor(
    "the multipart upload to begin",
    async () => {
      const found = await Array.fromAsync(direct.pendingUploads(`workspaces/${id}/`));
      return found.length > 0 ? found : undefined;
    },
    60_000,
    20,
  );
  killGroup(held.proc, "SIGKILL");
  const run = await waitRunOn(other, id, 120_000);
  expect(run.result).toBe("success");
  // one attempt: the upload that began through the dead node was finished through the other
  expect(run.tasks.find((t) => t.name === "t")!.attempts).toHaveLength(1);
  expect(registrations(agent.output()).at(-1)).toBe(other.url);
  const [archive] = await Array.fromAsync(openObjectStore(spec).list(`workspaces/${id}/`));
  expect(archive!.key).toBe(upload!.key);
  expect(await nodeLog(other, id, "check", 1)).toBe(await nodeLog(other, id, "t", 0));
  // A start of the upload that reached the bucket through the dead node, but whose answer never reached the agent
  // (it started again through the other node), is left pending: the collector aborts it, its attempt being over.
  const pending = await Array.fromAsync(direct.pendingUploads(""));
  expect(pending.every((p) => p.key === upload!.key)).toBe(true);
  await nodeApi(other, "POST", "/api/v1/gc");
  expect(await Array.fromAsync(direct.pendingUploads(""))).toEqual([]);
  killGroup(agent.proc, "SIGTERM");
}, 180_000);
