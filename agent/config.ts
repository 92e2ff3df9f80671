import { availableParallelism, homedir, hostname, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { MAX_TIMER_MS, memoryToBytes, settingToMs } from "../shared/pipeline/units.ts";
import { readFileSync } from "node:fs";
import { allowedRepoPattern } from "./checkout/allowed.ts";
import type { CheckoutOptions } from "./checkout/checkout.ts";
// not the protocol's index: its zod schemas would cost an idle agent ~17 MiB (see shared/protocol/idle-frames.ts)
import { ARCHS, type Arch } from "../shared/pipeline/types.ts";
import { AGENT_BOUNDS } from "../shared/protocol/agent-bounds.ts";
import { EXECUTORS, type Executor } from "../shared/protocol/executors.ts";
import { keptCheckoutsDir } from "./own-dir.ts";

export interface AgentConfig {
  /** the coordinator nodes, tried in turn (`--coordinator A,B,C`) */
  coordinators: string[];
  token: string;
  name: string;
  archs: Arch[];
  group: string;
  labels: Record<string, string>;
  capacity: number;
  resources: { cpu: number; memoryBytes: number };
  dynamic: boolean;
  once: boolean;
  workDir: string;
  cancelGraceMs: number;
  /** bytes of saved workspaces kept for downstream tasks on this agent (kept.ts); 0 keeps none */
  keepWorkspacesBytes: number;
  executor: Executor;
  /** the user steps run as (an agent running as root only) */
  runAs: string | null;
  /** the token file, hidden from sandboxed steps */
  tokenFile: string | null;
  /** more paths a sandboxed step must not see (a co-located coordinator's data dir, say) */
  sandboxHide: string[];
  /** host steps in a PID namespace of their own where the agent can make one (`--no-pid-namespace` turns it off) */
  pidNamespace: boolean;
  /** cap on the processes of one step's tree, where a cgroup or rlimit can hold it */
  maxProcesses: number;
  /** agent hooks run around every task (runner/hooks.ts) */
  hooksDir: string | null;
  /** the PEM of a private CA the coordinator's certificate is checked against (--ca-file); null for the system's */
  ca: string | null;
  /** repository checkouts: mirrors dir and budget, allowed repositories, mirror lock bound */
  checkout: CheckoutOptions;
}

const NODE_ARCH: Record<string, Arch> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386" };

function arch(name: string): Arch {
  if (!(ARCHS as readonly string[]).includes(name)) throw new Error(`--arch wants some of ${ARCHS.join(", ")}, got "${name}"`);
  return name as Arch;
}

export const USAGE =
  "drover-agent --coordinator http://host:8080[,http://other:8080] (--token-file PATH | DROVER_AGENT_TOKEN=T | --token T) [--name N] [--arch amd64,arm64] [--group G] [--label k=v]… [--capacity 2] [--cpu N] [--memory BYTES|4G] [--dynamic] [--once] [--work-dir DIR] [--keep-workspaces 4G|0] [--executor host|sandbox] [--run-as USER] [--no-pid-namespace] [--sandbox-hide PATH]… [--max-processes 4096] [--hooks-dir DIR] [--ca-file PEM] [--git-mirrors DIR] [--git-mirrors-budget 10G] [--kept-checkouts 2] [--kept-checkouts-budget 5G] [--allowed-repos REGEX]";

export function parseAgentConfig(argv: string[], env = process.env): AgentConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      coordinator: { type: "string" },
      token: { type: "string" },
      "token-file": { type: "string" },
      executor: { type: "string" },
      "run-as": { type: "string" },
      "no-pid-namespace": { type: "boolean" },
      "sandbox-hide": { type: "string", multiple: true },
      "max-processes": { type: "string" },
      "hooks-dir": { type: "string" },
      "ca-file": { type: "string" },
      name: { type: "string" },
      arch: { type: "string" },
      group: { type: "string" },
      label: { type: "string", multiple: true },
      capacity: { type: "string" },
      cpu: { type: "string" },
      memory: { type: "string" },
      dynamic: { type: "boolean" },
      once: { type: "boolean" },
      "work-dir": { type: "string" },
      "keep-workspaces": { type: "string" },
      "git-mirrors": { type: "string" },
      "git-mirrors-budget": { type: "string" },
      "kept-checkouts": { type: "string" },
      "kept-checkouts-budget": { type: "string" },
      "allowed-repos": { type: "string" },
    },
  });
  const coordinator = values.coordinator ?? env.DROVER_COORDINATOR;
  const tokenFileFlag = values["token-file"] ?? env.DROVER_AGENT_TOKEN_FILE;
  const tokenFile = tokenFileFlag ? resolve(tokenFileFlag) : null;
  const token = tokenFile ? readToken(tokenFile) : (values.token ?? env.DROVER_AGENT_TOKEN);
  if (!coordinator || !token) throw new Error(`--coordinator and a token (--token-file, DROVER_AGENT_TOKEN or --token) are required\nusage: ${USAGE}`);
  const coordinators = coordinator.split(",").map((u) => u.trim().replace(/\/$/, "")).filter(Boolean);
  for (const u of coordinators) {
    if (!/^https?:\/\/[^/]/.test(u)) throw new Error(`--coordinator wants http(s) URLs separated by commas, got "${u}"`);
  }
  if (coordinators.length === 0) throw new Error(`--coordinator names no URL\nusage: ${USAGE}`);
  const executor = values.executor ?? env.DROVER_AGENT_EXECUTOR ?? "host";
  if (!(EXECUTORS as readonly string[]).includes(executor)) throw new Error(`--executor wants host or sandbox, got "${executor}"`);
  const maxProcesses = Number(values["max-processes"] ?? 4096);
  if (!Number.isInteger(maxProcesses) || maxProcesses < 1) throw new Error(`--max-processes wants a whole number above 0, got "${values["max-processes"]}"`);
  const own = NODE_ARCH[process.arch];
  const archs = (values.arch ?? own ?? "").split(",").filter(Boolean).map((a) => arch(a.trim()));
  if (archs.length === 0) throw new Error(`cannot tell this machine's arch (${process.arch}): pass --arch`);
  const labels: Record<string, string> = {};
  for (const l of values.label ?? []) {
    const [k, ...v] = l.split("=");
    if (!k || v.length === 0) throw new Error(`--label wants key=value, got "${l}"`);
    const value = v.join("=");
    if (k.length > AGENT_BOUNDS.labelKey || value.length > AGENT_BOUNDS.labelValue) {
      throw new Error(`--label wants a key of at most ${AGENT_BOUNDS.labelKey} characters and a value of at most ${AGENT_BOUNDS.labelValue}`);
    }
    labels[k] = value;
  }
  const name = values.name ?? env.DROVER_AGENT_NAME ?? hostname();
  if (name.length === 0 || name.length > AGENT_BOUNDS.name) throw new Error(`--name wants 1 to ${AGENT_BOUNDS.name} characters, got ${name.length}`);
  const group = values.group ?? env.DROVER_AGENT_GROUP ?? "default";
  if (group.length === 0 || group.length > AGENT_BOUNDS.group) throw new Error(`--group wants 1 to ${AGENT_BOUNDS.group} characters, got ${group.length}`);
  const capacityText = values.capacity ?? env.DROVER_AGENT_CAPACITY ?? "1";
  const capacity = Number(capacityText);
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > AGENT_BOUNDS.capacity) {
    throw new Error(`--capacity wants a whole number from 1 to ${AGENT_BOUNDS.capacity}, got "${capacityText}"`);
  }
  const cpu = Number(values.cpu ?? availableParallelism());
  if (!(cpu > 0) || !Number.isFinite(cpu)) throw new Error(`--cpu wants a number of CPUs above 0, got "${values.cpu}"`);
  // as the coordinator reads it: milliseconds or a duration, no longer than a timer holds
  const cancelGraceMs = settingToMs(env.DROVER_CANCEL_GRACE_MS || "10000");
  if (cancelGraceMs === null || cancelGraceMs > MAX_TIMER_MS) {
    throw new Error(`DROVER_CANCEL_GRACE_MS wants milliseconds or a duration like 10s, at most ${MAX_TIMER_MS} ms, got "${env.DROVER_CANCEL_GRACE_MS}"`);
  }
  const memoryBytes = memoryToBytes(values.memory ?? totalmem());
  if (memoryBytes === null) throw new Error(`--memory wants a byte count or a size like 512M or 4G, got "${values.memory}"`);
  const keep = values["keep-workspaces"] ?? env.DROVER_AGENT_KEEP_WORKSPACES ?? "4G";
  const keepWorkspacesBytes = keep.trim() === "0" ? 0 : memoryToBytes(keep);
  if (keepWorkspacesBytes === null) throw new Error(`--keep-workspaces wants a byte count, a size like 4G, or 0, got "${keep}"`);
  const workDir = resolve(values["work-dir"] ?? env.DROVER_AGENT_WORK_DIR ?? join(homedir(), ".drover", `agent-${name}`));
  return {
    coordinators,
    token,
    name,
    archs,
    group,
    labels,
    capacity,
    resources: { cpu, memoryBytes },
    dynamic: values.dynamic ?? false,
    once: values.once ?? false,
    workDir,
    cancelGraceMs,
    keepWorkspacesBytes,
    executor: executor as Executor,
    runAs: values["run-as"] ?? null,
    pidNamespace: !(values["no-pid-namespace"] ?? env.DROVER_AGENT_NO_PID_NAMESPACE === "1"),
    tokenFile,
    sandboxHide: (values["sandbox-hide"] ?? []).map((p) => resolve(p)),
    maxProcesses,
    ca: readCa(values["ca-file"] ?? env.DROVER_CA_FILE),
    hooksDir: values["hooks-dir"] ? resolve(values["hooks-dir"]) : (env.DROVER_AGENT_HOOKS_DIR ?? null),
    checkout: checkoutOptions(values, env, workDir, name),
  };
}

type Values = Record<string, string | boolean | string[] | undefined>;

function checkoutOptions(values: Values, env: NodeJS.ProcessEnv, workDir: string, name: string): CheckoutOptions {
  const budget = String(values["git-mirrors-budget"] ?? env.DROVER_AGENT_GIT_MIRRORS_BUDGET ?? "10G");
  const budgetBytes = budget.trim() === "0" ? 0 : memoryToBytes(budget);
  if (budgetBytes === null) throw new Error(`--git-mirrors-budget wants a byte count, a size like 10G, or 0, got "${budget}"`);
  const allowed = (values["allowed-repos"] ?? env.DROVER_AGENT_ALLOWED_REPOS) as string | undefined;
  try {
    if (allowed !== undefined) allowedRepoPattern(allowed);
  } catch (e) {
    throw new Error(`--allowed-repos wants a regular expression: ${(e as Error).message}`);
  }
  const perRepository = Number(values["kept-checkouts"] ?? env.DROVER_AGENT_KEPT_CHECKOUTS ?? 2);
  if (!Number.isInteger(perRepository) || perRepository < 0)
    throw new Error(`--kept-checkouts wants a whole number (0 keeps none), got "${values["kept-checkouts"] ?? env.DROVER_AGENT_KEPT_CHECKOUTS}"`);
  const keptBudget = String(values["kept-checkouts-budget"] ?? env.DROVER_AGENT_KEPT_CHECKOUTS_BUDGET ?? "5G");
  const keptBytes = keptBudget.trim() === "0" ? 0 : memoryToBytes(keptBudget);
  if (keptBytes === null) throw new Error(`--kept-checkouts-budget wants a byte count, a size like 5G, or 0, got "${keptBudget}"`);
  const lockTimeoutMs = Number(env.DROVER_GIT_MIRROR_LOCK_MS ?? 120_000);
  if (!Number.isFinite(lockTimeoutMs) || lockTimeoutMs < 0) {
    throw new Error(`DROVER_GIT_MIRROR_LOCK_MS wants milliseconds, got "${env.DROVER_GIT_MIRROR_LOCK_MS}"`);
  }
  return {
    mirrorsDir: resolve(String(values["git-mirrors"] ?? env.DROVER_AGENT_GIT_MIRRORS ?? join(workDir, "git-mirrors"))),
    budgetBytes,
    allowedRepos: allowed ?? null,
    lockTimeoutMs,
    kept: { dir: keptCheckoutsDir(workDir, name), perRepository, budgetBytes: keptBytes },
  };
}

function readCa(file: string | undefined): string | null {
  if (!file) return null;
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`--ca-file ${file}: ${(e as Error).message}`);
  }
}

function readToken(file: string): string {
  try {
    const token = readFileSync(file, "utf8").trim();
    if (token) return token;
  } catch (e) {
    throw new Error(`--token-file ${file}: ${(e as Error).message}`);
  }
  throw new Error(`--token-file ${file} is empty`);
}
