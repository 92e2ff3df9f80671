import type { Command } from "../command.ts";
import { agents } from "./agents.ts";
import { approve } from "./approve.ts";
import { artifacts } from "./artifacts.ts";
import { cancel } from "./cancel.ts";
import { init } from "./init.ts";
import { lint } from "./lint.ts";
import { logs } from "./logs.ts";
import { rerun } from "./rerun.ts";
import { project } from "./project.ts";
import { restart } from "./restart.ts";
import { run } from "./run.ts";
import { runs } from "./runs.ts";
import { secret } from "./secret.ts";
import { serve } from "./serve.ts";
import { tasks } from "./tasks.ts";

export const commands: Command[] = [init, lint, serve, run, runs, logs, approve, cancel, restart, rerun, tasks, agents, artifacts, secret, project];
