// Drover's client script: action buttons and ticking durations on every page, and the live parts
// of the run and step log pages. Plain JS modules served as written: no build step, no framework.
import { api, enc, failure, flash, page, duration } from "./common.mjs";
import { addAgent } from "./agents.mjs";
import { followLog } from "./log.mjs";
import { refreshRun, watchRun } from "./run.mjs";

setInterval(() => {
  for (const el of document.querySelectorAll("[data-since]")) el.textContent = duration(Date.now() - Number(el.dataset.since));
}, 1000);

/** Buttons rendered by layout.tsx `Action`: POST to the API, then show what changed. */
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-api]");
  if (!button || (button.dataset.confirm && !confirm(button.dataset.confirm))) return;
  button.disabled = true;
  try {
    const res = await api(button.dataset.method ?? "POST", button.dataset.api, button.dataset.body && JSON.parse(button.dataset.body));
    if (!res.ok) throw await failure(res);
    flash("");
    if (button.dataset.then === "open-run") location.assign(`/runs/${enc((await res.json()).id)}`);
    else if (button.dataset.then === "reload") location.reload();
    else refreshRun();
  } catch (err) {
    flash(`${button.textContent.trim()} failed: ${err.message}`);
  } finally {
    button.disabled = false;
  }
});

if (page.page === "run") watchRun();
if (page.page === "log") followLog();
if (page.page === "agents") addAgent();
