/** @jsxImportSource hono/jsx */
import type { Child } from "hono/jsx";
import { raw } from "hono/html";
import type { Principal } from "../auth/principal.ts";

export interface Viewer {
  principal: Principal;
}

interface Props {
  title: string;
  /** which live part of the client script (browser/app.mjs) the page uses: "run", "log", … */
  page: string;
  viewer?: Viewer;
  data?: Record<string, string>;
  children?: Child;
}

const dataAttrs = (data: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries(data).map(([k, v]) => [`data-${k}`, v]));

export function Layout({ title, page, viewer, data, children }: Props) {
  return (
    <>
      {raw("<!doctype html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{`${title} · Drover`}</title>
          <link rel="icon" href="data:," />
          <link rel="stylesheet" href="/ui/style.css" />
          <script type="module" src="/ui/app.mjs" />
        </head>
        <body data-page={page} {...dataAttrs(data)}>
          <header class="top">
            <a class="brand" href="/">
              Drover
            </a>
            {viewer && (
              <nav>
                <a href="/">Runs</a>
                <a href="/projects">Projects</a>
                <a href="/agents">Agents</a>
              </nav>
            )}
            {viewer && (
              <form class="who" method="post" action="/logout">
                <span>
                  {viewer.principal.user} <span class="muted">({viewer.principal.role})</span>
                </span>
                <button type="submit" class="link">
                  Log out
                </button>
              </form>
            )}
          </header>
          <div id="flash" class="flash" hidden />
          <main>{children}</main>
        </body>
      </html>
    </>
  );
}

/** A coloured pill for a phase, result, status or state; the class is the value itself. */
export const Badge = ({ value, field }: { value: string; field?: string }) => (
  <span class={`badge s-${value}`} data-field={field}>
    {value.replaceAll("_", " ")}
  </span>
);

interface ActionProps {
  /** API path under /api/v1 the button calls (POST unless `method` says otherwise) */
  api: string;
  method?: "DELETE";
  label: string;
  body?: unknown;
  confirm?: string;
  /** what to do after success: refresh the run (default), open the new run, or reload the page */
  then?: "refresh" | "open-run" | "reload";
  kind?: "primary" | "danger";
  /** the client script (browser/run.mjs) shows the button only while the run's phase (or the task's status) is one of these */
  showPhase?: string[];
  showStatus?: string[];
  /** …or while the run's result is one of these */
  showResult?: string[];
  hidden?: boolean;
}

export const Action = (p: ActionProps) => (
  <button
    type="button"
    class={`btn ${p.kind ?? ""}`}
    data-api={`/api/v1${p.api}`}
    data-method={p.method}
    data-body={p.body === undefined ? undefined : JSON.stringify(p.body)}
    data-confirm={p.confirm}
    data-then={p.then ?? "refresh"}
    data-show-phase={p.showPhase?.join(" ")}
    data-show-status={p.showStatus?.join(" ")}
    data-show-result={p.showResult?.join(" ")}
    hidden={p.hidden}
  >
    {p.label}
  </button>
);
