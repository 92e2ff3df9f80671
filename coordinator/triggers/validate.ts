import { DroverError } from "../../shared/errors.ts";
import { parsePipeline } from "../../shared/pipeline/index.ts";
import { cronOf } from "./tick.ts";

export function checkCron(expression: string): void {
  let next: Date | null;
  try {
    next = cronOf(expression).nextRun();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new DroverError("bad_request", `invalid cron expression "${expression}" (5 fields, or 6 with seconds first): ${why}`);
  }
  if (!next) throw new DroverError("bad_request", `cron expression "${expression}" never fires`);
}

/** The same refusal POST /runs gives, but when the trigger is saved rather than when it first fires. */
export function checkPipeline(text: string): void {
  const parsed = parsePipeline(text, ".drover.yml");
  if (!parsed.ok) throw new DroverError("invalid_pipeline", parsed.errors.join("\n"), { errors: parsed.errors });
}
