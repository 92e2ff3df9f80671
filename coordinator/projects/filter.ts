import picomatch from "picomatch";
import { DEFAULT_TRIGGERS } from "../../shared/pipeline/schema.ts";
import type { Pipeline } from "../../shared/pipeline/index.ts";
import type { RunSource } from "../../shared/source.ts";

const matches = (globs: string[], name: string) => globs.length > 0 && picomatch(globs, { dot: true })(name);
const listed = (globs: string[]) => (globs.length ? globs.join(", ") : "none");

/**
 * Whether the pipeline's `on:` lets this source start a run; when not, why, in words a delivery's outcome can show.
 * Branch and tag globs are picomatch's: `*` stays within one path segment, `**` crosses `/`.
 */
export function triggerRefusal(pipeline: Pipeline, source: RunSource): string | null {
  const on = pipeline.on ?? DEFAULT_TRIGGERS;
  switch (source.event) {
    case "push":
      if (source.branch === null) return "a push without a branch";
      return matches(on.push.branches, source.branch)
        ? null
        : `on.push.branches (${listed(on.push.branches)}) does not match branch ${source.branch}`;
    case "tag":
      if (source.tag === null) return "a tag push without a tag name";
      return matches(on.push.tags, source.tag) ? null : `on.push.tags (${listed(on.push.tags)}) does not match tag ${source.tag}`;
    case "pull_request": {
      const target = source.pr?.targetBranch ?? null;
      if (target === null) return "a pull request without a target branch";
      return matches(on.pullRequest.branches, target)
        ? null
        : `on.pull_request.branches (${listed(on.pullRequest.branches)}) does not match target branch ${target}`;
    }
    case "manual":
      return on.manual ? null : "on.manual is false";
    default:
      return null;
  }
}

const UNCHANGED = "no changed file matches changed: ";

/** Whether a task's status message says `changed:` skipped it (a restart of its run skips it again). */
export const isUnchangedSkip = (message: string | null) => !!message?.startsWith(UNCHANGED);

/** Task name → why it is skipped: it has `changed:` globs and no changed file matches them. */
export function unchangedTasks(pipeline: Pipeline, changedFiles: string[]): Map<string, string> {
  const skipped = new Map<string, string>();
  for (const task of pipeline.tasks) {
    if (!task.changed) continue;
    const isMatch = picomatch(task.changed, { dot: true });
    if (!changedFiles.some((file) => isMatch(file))) skipped.set(task.name, `${UNCHANGED}${task.changed.join(", ")}`);
  }
  return skipped;
}
