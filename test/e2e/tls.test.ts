import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN_TOKEN, AGENT_TOKEN, ROOT, type RunView } from "../helpers/cluster.ts";
import { captureOutput, spawnTracked, stopAll, waitFor } from "../helpers/processes.ts";

// The coordinator serves HTTPS and WSS itself; agents and the CLI check its certificate against a private CA
// (--ca-file), made here with openssl, and one given the wrong CA refuses to connect, saying why.

const dir = mkdtempSync(join(tmpdir(), "drover-tls-"));
const pem = (name: string) => join(dir, name);
let url = "";
let ca = "";

function openssl(...args: string[]): void {
  const done = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
  if (done.exitCode !== 0) throw new Error(`openssl ${args[0]}: ${done.stderr}`);
}

beforeAll(async () => {
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Drover test CA");
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days", "2", "-subj", "/CN=Another CA");
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(pem("ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf");
  ca = readFileSync(pem("ca.pem"), "utf8");
  const coordinator = spawnTracked(
    ["bun", "cli/main.ts", "serve", "--port", "0", "--data", join(dir, "data"), "--no-fsync", "--tls-cert", pem("server.pem"), "--tls-key", pem("server.key")],
    { cwd: ROOT, env: { DROVER_ADMIN_TOKEN: ADMIN_TOKEN, DROVER_AGENT_TOKEN: AGENT_TOKEN } },
  );
  const out = captureOutput(coordinator.stdout);
  url = await waitFor("the coordinator to listen", () => out.text().match(/listening on (https:\/\/\S+)/)?.[1], 20_000);
});
afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

function agent(name: string, caFile: string) {
  const proc = spawnTracked(
    ["bun", "agent/main.ts", "--coordinator", url, "--name", name, "--work-dir", join(dir, name), "--ca-file", caFile, "--label", `who=${name}`],
    { cwd: ROOT, env: { DROVER_AGENT_TOKEN: AGENT_TOKEN } },
  );
  return captureOutput(proc.stderr);
}

const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    tls: { ca },
  });
  return (await res.json()) as T;
};

describe("TLS", () => {
  test("an agent trusting the private CA registers over WSS and runs a task, its log and result coming back over HTTPS", async () => {
    const out = agent("good", pem("ca.pem"));
    await waitFor("the agent to register", () => out.text().includes("registered as"), 20_000);
    const { id } = await api<{ id: string }>("POST", "/api/v1/runs", {
      pipeline: "tasks:\n  t:\n    labels: { who: good }\n    steps: [ { run: echo over tls } ]\n",
    });
    const run = await waitFor("the run to end", async () => {
      const view = await api<RunView>("GET", `/api/v1/runs/${id}`);
      return view.phase === "finished" ? view : undefined;
    });
    expect(run.result).toBe("success");
    const log = await fetch(`${url}/api/v1/runs/${id}/tasks/t/steps/0/log`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, tls: { ca } });
    expect(await log.text()).toBe("over tls\n");
  });

  test("an agent given the wrong CA does not connect, and says why", async () => {
    const out = agent("wrong", pem("other.pem"));
    await waitFor("the agent to say why", () => out.text().includes("cannot connect to the coordinator"), 20_000);
    expect(out.text()).toMatch(/cannot connect to the coordinator: .*(certificate|TLS)/);
    expect(out.text()).not.toContain("registered as");
    const { agents } = await api<{ agents: { name: string }[] }>("GET", "/api/v1/agents");
    expect(agents.map((a) => a.name)).not.toContain("wrong");
  });

  test("the CLI checks the certificate: with --ca-file it talks to the coordinator, without it says why not", async () => {
    const cli = (args: string[]) =>
      Bun.spawnSync(["bun", "cli/main.ts", ...args], { cwd: ROOT, env: { ...process.env, DROVER_URL: url, DROVER_TOKEN: ADMIN_TOKEN }, stderr: "pipe" });
    const trusted = cli(["--ca-file", pem("ca.pem"), "agents"]);
    // the agents table came back over HTTPS (which agents it lists depends on the tests run before)
    expect(trusted.stdout.toString()).toMatch(/^NAME +ARCHS +GROUP/);
    expect(trusted.exitCode).toBe(0);
    const untrusted = cli(["agents"]);
    expect(untrusted.exitCode).toBe(1);
    expect(untrusted.stderr.toString()).toMatch(/cannot reach the coordinator at https:.*certificate/);
  });
});
