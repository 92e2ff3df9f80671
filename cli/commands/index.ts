import type { Command } from "../command.ts";
import { logs } from "./logs.ts";
import { run } from "./run.ts";
import { runs } from "./runs.ts";
import { serve } from "./serve.ts";

export const commands: Command[] = [serve, run, runs, logs];
