/** @jsxImportSource hono/jsx */
import type { RunSource } from "../../shared/source.ts";
import { runLabel } from "../../shared/format.ts";
import { seg } from "./format.ts";

type Labelled = Parameters<typeof runLabel>[0];

/** The first line of a commit message. */
export const headline = (message: string | null | undefined) => message?.split("\n")[0]?.trim() ?? "";

/** What the run built: the branch, tag or pull request's source branch. */
export function refName(s: RunSource | null): string {
  if (!s) return "";
  if (s.pr) return `#${s.pr.number} ${s.pr.sourceBranch} → ${s.pr.targetBranch}`;
  return s.branch ?? s.tag ?? "";
}

/** A short sha, marked when a direct run's tree had changes its commit did not. */
export const Commit = ({ source }: { source: RunSource | null }) =>
  source?.sha ? (
    <span class="mono" title={source.sha + (source.dirty ? " with uncommitted changes" : "")}>
      {source.sha.slice(0, 8)}
      {source.dirty ? "+" : ""}
    </span>
  ) : null;

export const RunLink = ({ run }: { run: Labelled }) => (
  <a class={run.project ? "" : "mono"} href={`/runs/${seg(run.id)}`}>
    {runLabel(run)}
  </a>
);

/** The run page's facts about the source, as dt/dd pairs. */
export function SourceFacts({ run }: { run: Labelled & { source: RunSource | null } }) {
  const s = run.source;
  if (!s) return null;
  const facts: [string, unknown][] = [
    ["Project", run.project && <a href={`/projects/${seg(run.project)}`}>{run.project}</a>],
    ["Event", s.event],
    ["Commit", s.sha && <Commit source={s} />],
    [s.pr ? "Pull request" : s.tag ? "Tag" : "Branch", refName(s)],
    ["Message", headline(s.message) && <span title={s.message ?? ""}>{headline(s.message)}</span>],
    ["Author", s.author],
    ["Trigger", s.trigger],
    ["Repository", s.repoUrl && <span class="mono small">{s.repoUrl}</span>],
  ];
  return (
    <>
      {facts
        .filter(([, value]) => value)
        .map(([name, value]) => (
          <>
            <dt>{name}</dt>
            <dd data-field={`source-${name.toLowerCase().replace(/ /g, "-")}`}>{value}</dd>
          </>
        ))}
    </>
  );
}
