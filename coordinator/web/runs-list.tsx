/** @jsxImportSource hono/jsx */
import { asc } from "drizzle-orm";
import type { Db } from "../db/open.ts";
import { runs } from "../db/schema.ts";
import { listRuns } from "../runs/list-runs.ts";
import { RUN_EVENTS } from "../../shared/source.ts";
import { RUN_PHASES, RUN_RESULTS } from "../../shared/states.ts";
import { ago, isoTime, span } from "./format.ts";
import { Badge, Layout, type Viewer } from "./layout.tsx";
import { Commit, headline, RunLink, refName } from "./source.tsx";

const FILTERS = ["group", "project", "branch", "event", "phase", "result", "user"] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

/** The filters from a query string; empty fields mean "any". */
export function readFilters(query: Record<string, string>): Filters {
  return Object.fromEntries(FILTERS.filter((k) => query[k]?.trim()).map((k) => [k, query[k]!.trim()]));
}

async function loadRuns(db: Db, f: Filters) {
  const rows = await listRuns(db, { ...f, limit: 100 });
  const groups = await db.selectDistinct({ group: runs.group }).from(runs).orderBy(asc(runs.group)).limit(500);
  return { rows, groups: groups.map((g) => g.group) };
}

const Select = ({ name, options, value }: { name: string; options: readonly string[]; value?: string }) => (
  <select name={name} id={`filter-${name}`}>
    <option value="">any</option>
    {options.map((o) => (
      <option value={o} selected={o === value}>
        {o}
      </option>
    ))}
  </select>
);

export async function RunsListPage({ db, viewer, filters }: { db: Db; viewer: Viewer; filters: Filters }) {
  const { rows, groups } = await loadRuns(db, filters);
  return (
    <Layout title="Runs" page="runs" viewer={viewer}>
      <div class="title-row">
        <h1>Runs</h1>
      </div>
      <form class="filters card" method="get" action="/">
        <label>
          Group
          <input name="group" value={filters.group ?? ""} list="groups" placeholder="any" />
          <datalist id="groups">
            {groups.map((g) => (
              <option value={g} />
            ))}
          </datalist>
        </label>
        <label for="filter-phase">
          Phase
          <Select name="phase" options={RUN_PHASES} value={filters.phase} />
        </label>
        <label for="filter-result">
          Result
          <Select name="result" options={RUN_RESULTS} value={filters.result} />
        </label>
        <label>
          User
          <input name="user" value={filters.user ?? ""} placeholder="any" />
        </label>
        <label>
          Project
          <input name="project" value={filters.project ?? ""} placeholder="any" />
        </label>
        <label>
          Branch
          <input name="branch" value={filters.branch ?? ""} placeholder="any" />
        </label>
        <label for="filter-event">
          Event
          <Select name="event" options={[...RUN_EVENTS]} value={filters.event} />
        </label>
        <button type="submit" class="btn primary">
          Filter
        </button>
        <a class="btn" href="/">
          Clear
        </a>
      </form>
      <table class="list">
        <thead>
          <tr>
            <th>Run</th>
            <th>Group</th>
            <th>Commit</th>
            <th>Branch</th>
            <th>Message</th>
            <th>Author</th>
            <th>Trigger</th>
            <th>Phase</th>
            <th>Result</th>
            <th>Created</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr data-run={r.id}>
              <td>
                <RunLink run={r} />
              </td>
              <td>{r.group}</td>
              <td>
                <Commit source={r.source} />
              </td>
              <td class="small">{refName(r.source)}</td>
              <td class="small" title={r.source?.message ?? ""}>
                {headline(r.source?.message)}
              </td>
              <td class="small">{r.source?.author ?? ""}</td>
              <td class="small">{r.source?.trigger ?? r.user}</td>
              <td>
                <Badge value={r.phase} />
              </td>
              <td>
                <Badge value={r.result} />
              </td>
              <td title={isoTime(r.createdAt)}>{ago(r.createdAt)}</td>
              <td class="dur" data-since={r.startedAt && !r.endedAt ? String(r.startedAt) : undefined}>
                {span(r.startedAt, r.endedAt)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && <p class="empty">No runs match these filters.</p>}
    </Layout>
  );
}
