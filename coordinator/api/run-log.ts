import { Hono } from "hono";
import { loadRunWithSteps } from "../runs/load-run.ts";
import { requireRole } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { notFound } from "./errors.ts";
import { logStream } from "../runs/log-follow.ts";
import { type LogAddress, logElsewhere } from "../cluster/log-forward.ts";
import { runView } from "../runs/run-view.ts";

/** The whole run's log as one text: each task's latest attempt, step by step, under a header line. */
export const runLogRoutes = new Hono<AppEnv>().get("/:id/log", requireRole("viewer"), async (c) => {
  const services = c.get("services");
  const id = c.req.param("id");
  const stored = await loadRunWithSteps(services.db, id);
  if (!stored) throw notFound(`run ${id}`);
  const parts: {
    /** the part's header line, knowing whether the step has output */
    header: (withOutput: boolean) => string;
    key: { run: string; attempt: string; step: number } | null;
    address?: LogAddress;
  }[] = [];
  for (const task of runView(stored).tasks) {
    const attempt = task.attempts.at(-1);
    if (!attempt?.startedAt) {
      parts.push({ header: () => `=== ${task.name}: not started (${task.statusMessage ?? task.status})\n`, key: null });
      continue;
    }
    for (const step of attempt.steps) {
      // a step with output has started, whatever the row read above says: its start is committed a moment after
      // its first bytes are stored (reports are written in groups), and may not be yet
      const status = (withOutput: boolean) => (withOutput && step.status === "pending" ? "running" : step.status);
      parts.push({
        header: (withOutput) => `=== ${task.name} › step ${step.index + 1}: ${step.name} (attempt ${attempt.number}, ${status(withOutput)})\n`,
        key: { run: id, attempt: attempt.id, step: step.index },
        address: { run: id, attemptId: attempt.id, task: task.name, attempt: attempt.number, step: step.index, timestamps: false },
      });
    }
  }
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const part of parts) {
        if (!part.key) {
          controller.enqueue(encoder.encode(part.header(false)));
          continue;
        }
        // what is stored so far of each step, not followed: a download is a snapshot; a running step's from
        // the node its agent is connected to
        const elsewhere = logElsewhere(services, part.address!, c.get("credential"));
        let headed = false;
        for await (const chunk of logStream(services, part.key, { follow: false, elsewhere })) {
          if (!headed) controller.enqueue(encoder.encode(part.header(true)));
          headed = true;
          controller.enqueue(chunk);
        }
        if (!headed) controller.enqueue(encoder.encode(part.header(false)));
      }
      controller.close();
    },
  });
  return c.body(body, 200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
});
