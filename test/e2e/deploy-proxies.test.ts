import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, type Cluster, type Coordinator, ROOT, startCluster } from "../helpers/cluster.ts";
import { freePort } from "../helpers/nats-server.ts";
import { startNodes } from "../helpers/nodes.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";

// The sample load balancer configurations of deploy/ (docs/deploy.md), run for real in front of two
// coordinators on one database: an agent connects through them, a run's events and a step's followed
// log come through them live, and the agent's workspace and artifact requests reach a node. Only the
// listening port and the nodes' addresses are changed from the samples.

const which = (name: string) => Bun.which(name) ?? Bun.which(name, { PATH: "/usr/sbin:/sbin" });
const HAPROXY = which("haproxy");
const NGINX = which("nginx");
if (!HAPROXY) console.warn("!! SKIPPING the live test of deploy/haproxy.cfg: no haproxy (apt-get install -y haproxy)");
if (!NGINX) console.warn("!! SKIPPING the live test of deploy/nginx.conf: no nginx (apt-get install -y nginx)");

// \`check\` restores its workspace as its first step: the agent asks for the workspaces as soon as it has sent its
// accept, and over a proxy that request and the accept race on two connections (a node once answered 403 until it
// had applied the accept: 2 runs in 7 failed so, before archive reads were allowed from the assigned agent).
const PIPELINE = `tasks:
  build:
    steps:
      - run: mkdir -p dist; for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.4; done; echo built > dist/out.txt
      - save_to_workspace: { paths: ["dist/**"] }
      - save_artifact: { paths: ["dist/out.txt"] }
  check:
    depends: [build]
    steps:
      - restore_workspace: {}
      - run: cat dist/out.txt
`;

/** The sample with its three nodes replaced by ours (a third server line is dropped) and its port by a free one. */
function adapt(sample: string, port: number, nodes: Coordinator[]): string {
  const [a, b] = nodes.map((n) => new URL(n.url).host);
  return sample
    .replace(/^(\s*)bind :80$/m, `$1bind 127.0.0.1:${port}`)
    .replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${port};`)
    .replaceAll("10.0.0.5:8080", a!)
    .replaceAll("10.0.0.6:8080", b!)
    .split("\n")
    .filter((line) => !line.includes("10.0.0.7:8080"))
    .join("\n");
}

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** A response's text as it arrives: `until` reads on until the text so far passes (or the stream ends). */
function textOf(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const until = async (done: (text: string) => boolean) => {
    while (!done(text)) {
      const read = await reader.read();
      if (read.done) break;
      text += decoder.decode(read.value, { stream: true });
    }
    return text;
  };
  return { until, rest: () => until(() => false), cancel: () => reader.cancel().catch(() => {}) };
}

describe("the sample load balancer configurations in front of two nodes", () => {
  let cluster: Cluster;
  let nodes: Coordinator[];

  beforeAll(async () => {
    cluster = await startCluster();
    nodes = await startNodes(cluster, 2);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  async function throughProxy(name: string, start: (dir: string, port: number) => ReturnType<typeof spawnTracked>) {
    const port = freePort();
    const proxy = start(cluster.dir, port);
    const lb = `http://127.0.0.1:${port}`;
    const out = captureOutput(proxy.stderr);
    try {
      // the proxy is up and finds a node healthy
      await waitFor(
        `${name} to pass /healthz on`,
        async () => (await fetch(`${lb}/healthz`).catch(() => null))?.status === 200,
        20_000,
      );
      const agent = await cluster.startAgent(`via-${name}`, [], lb);
      expect(agent.output()).toContain(`with ${lb}`);

      const submitted = await fetch(`${lb}/api/v1/runs`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ pipeline: PIPELINE, group: name }),
      });
      expect(submitted.status).toBe(201);
      const { id } = (await submitted.json()) as { id: string };

      // server-sent events through the proxy, up to the run's end
      const events = fetch(`${lb}/api/v1/runs/${id}/events`, { headers: auth }).then(async (res) => {
        const stream = textOf(res);
        const text = await stream.until((sofar) => /"phase":"(finished|cancelled|setuperror)"/.test(sofar));
        await stream.cancel();
        return text;
      });
      // the step's log followed through the proxy: its first line arrives while the step still runs
      const follow = await fetch(`${lb}/api/v1/runs/${id}/tasks/build/steps/0/log?follow=1`, { headers: auth });
      expect(follow.status).toBe(200);
      const followed = textOf(follow);
      await followed.until((sofar) => sofar.includes("line 1"));
      const stepNow = await fetch(`${nodes[0]!.url}/api/v1/runs/${id}`, { headers: auth }).then(
        (r) => r.json() as Promise<{ tasks: { name: string; attempts: { steps: { status: string }[] }[] }[] }>,
      );
      const build = stepNow.tasks.find((t) => t.name === "build")!;
      // not ended: the follow is live. (Its start may not be stored yet: the agent reports it on its WebSocket, and
      // under load the log's upload on another connection can overtake that report's commit.)
      expect(["pending", "running"]).toContain(build.attempts.at(-1)!.steps[0]!.status);
      expect(await followed.rest()).toBe("line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n");

      const streamed = await events;
      expect(streamed).toContain('"phase":"finished","result":"success"');
      const ids = [...streamed.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      expect(ids).toEqual([...ids].sort((x, y) => x - y));

      // the workspace and the artifact went through the agent's requests: the second task read what the first saved
      const checked = await fetch(`${lb}/api/v1/runs/${id}/tasks/check/steps/1/log`, { headers: auth });
      expect(await checked.text()).toBe("built\n");
      const artifact = await fetch(`${lb}/api/v1/runs/${id}/artifacts/build/dist/out.txt`, { headers: auth });
      expect(await artifact.text()).toBe("built\n");
      await stopAll([agent.proc]);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${name} printed:\n${out.text()}`);
    } finally {
      await stopAll([proxy]);
    }
  }

  /** Each proxy, its sample and how it runs in the foreground with a config file (in `dir`). */
  const proxies = [
    { name: "haproxy", binary: HAPROXY, sample: "haproxy.cfg", args: (cfg: string) => ["-db", "-f", cfg] },
    {
      name: "nginx",
      binary: NGINX,
      sample: "nginx.conf",
      args: (cfg: string, dir: string) => [
        "-p",
        dir,
        "-e",
        "stderr",
        "-c",
        cfg,
        "-g",
        `daemon off; pid ${join(dir, "nginx.pid")};`,
      ],
    },
  ];
  for (const proxy of proxies) {
    test.skipIf(!proxy.binary)(
      `deploy/${proxy.sample}: agent WebSocket, live events and log follow, the agent's archive requests`,
      async () => {
        await throughProxy(proxy.name, (dir, port) => {
          const cfg = join(dir, proxy.sample);
          writeFileSync(cfg, adapt(readFileSync(join(ROOT, "deploy", proxy.sample), "utf8"), port, nodes));
          return spawnTracked([proxy.binary!, ...proxy.args(cfg, dir)]);
        });
      },
      60_000,
    );
  }
});
