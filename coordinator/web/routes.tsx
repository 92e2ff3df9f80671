/** @jsxImportSource hono/jsx */
import { type Context, Hono } from "hono";
import { AgentsPage } from "./agents-page.tsx";
import { DeliveriesPage } from "./deliveries-page.tsx";
import { assetRoutes } from "./assets.ts";
import { webAuth, type WebEnv } from "./auth.ts";
import { seg } from "./format.ts";
import { Layout, type Viewer } from "./layout.tsx";
import { LogPage } from "./log-page.tsx";
import { ProjectPage, ProjectsPage } from "./projects-page.tsx";
import { loginRoutes } from "./login.tsx";
import { RunPage } from "./run-page.tsx";
import { readFilters, RunsListPage } from "./runs-list.tsx";

/** Serves a request with the API in the same process, as the UI's own requests would be. */
export type ApiFetch = (request: Request) => Response | Promise<Response>;

const viewerOf = (c: Context<WebEnv>): Viewer => ({ principal: c.get("principal") });

function notFoundPage(c: Context<WebEnv>, what: string) {
  return c.html(
    <Layout title="Not found" page="none" viewer={viewerOf(c)}>
      <h1>Not found</h1>
      <p>
        There is no {what}. <a href="/">Back to runs</a>
      </p>
    </Layout>,
    404,
  );
}

const stepIndex = (c: Context<WebEnv>) => {
  const n = Number(c.req.param("index"));
  return Number.isInteger(n) && n >= 0 ? n : undefined;
};
const attemptNumber = (c: Context<WebEnv>) => Number(c.req.query("attempt")) || undefined;

/** The web UI: server-rendered pages behind the login cookie, plus their stylesheet and script. */
export function webRoutes(api: ApiFetch): Hono<WebEnv> {
  const web = new Hono<WebEnv>();
  const auth = webAuth();
  web.route("/", assetRoutes);
  web.route("/", loginRoutes);

  web.get("/", auth, async (c) => {
    const filters = readFilters(c.req.query());
    return c.html(await RunsListPage({ db: c.get("services").db, viewer: viewerOf(c), filters }));
  });

  web.get("/runs/:id", auth, async (c) => {
    const page = await RunPage({ db: c.get("services").db, store: c.get("services").store, viewer: viewerOf(c), id: c.req.param("id") });
    return page ? c.html(page) : notFoundPage(c, `run ${c.req.param("id")}`);
  });

  web.get("/runs/:id/tasks/:task/steps/:index", auth, async (c) => {
    const { id, task } = c.req.param();
    const index = stepIndex(c);
    const page = index === undefined ? undefined : await LogPage({ db: c.get("services").db, viewer: viewerOf(c), id, task, index, attempt: attemptNumber(c) });
    return page ? c.html(page) : notFoundPage(c, `step ${c.req.param("index")} of task ${task} in run ${id}`);
  });

  // A download link cannot carry a bearer header, so these pass the cookie's token on to the API.
  const passOn = async (c: Context<WebEnv>, path: string, name: string) => {
    const res = await api(new Request(new URL(path, c.req.url), { headers: { authorization: `Bearer ${c.get("token")}` } }));
    if (!res.ok) return res;
    const headers = new Headers(res.headers);
    headers.set("content-disposition", `attachment; filename="${name.replace(/[^\w.-]+/g, "_")}"`);
    return new Response(res.body, { status: res.status, headers });
  };
  web.get("/runs/:id/tasks/:task/steps/:index/log.txt", auth, async (c) => {
    const { id, task, index } = c.req.param();
    const attempt = attemptNumber(c);
    const path = `/api/v1/runs/${seg(id)}/tasks/${seg(task)}/steps/${seg(index)}/log${attempt ? `?attempt=${attempt}` : ""}`;
    return passOn(c, path, `${id}-${task}-step${index}${attempt ? `-attempt${attempt}` : ""}.log`);
  });
  web.get("/runs/:id/log.txt", auth, (c) => passOn(c, `/api/v1/runs/${seg(c.req.param("id"))}/log`, `${c.req.param("id")}.log`));
  web.get("/runs/:id/artifacts/:task/:path{.+}", auth, (c) => {
    const { id, task, path } = c.req.param();
    return passOn(c, `/api/v1/runs/${seg(id)}/artifacts/${seg(task)}/${path.split("/").map(seg).join("/")}`, path.split("/").at(-1)!);
  });

  web.get("/projects", auth, async (c) => c.html(await ProjectsPage({ services: c.get("services"), viewer: viewerOf(c) })));

  web.get("/projects/:name", auth, async (c) => {
    const page = await ProjectPage({ services: c.get("services"), viewer: viewerOf(c), name: c.req.param("name") });
    return page ? c.html(page) : notFoundPage(c, `project ${c.req.param("name")}`);
  });

  web.get("/projects/:name/deliveries", auth, async (c) => {
    const page = await DeliveriesPage({ services: c.get("services"), viewer: viewerOf(c), name: c.req.param("name") });
    return page ? c.html(page) : notFoundPage(c, `project ${c.req.param("name")}`);
  });

  web.get("/agents", auth, async (c) => c.html(await AgentsPage({ services: c.get("services"), viewer: viewerOf(c) })));
  return web;
}
