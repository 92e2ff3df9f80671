// What every page's script shares: API calls and small display helpers.
// API calls carry the login cookie, which no script can read: the page never holds the token.

/** The page's data attributes: which page this is, and its run, task, step… */
export const page = document.body.dataset;
export const enc = encodeURIComponent;

export function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** An API error's message, from the `{error: {message}}` body when there is one. */
export async function failure(res) {
  const body = await res.json().catch(() => ({}));
  return new Error(body.error?.message ?? `HTTP ${res.status}`);
}

export function flash(message) {
  const el = document.getElementById("flash");
  el.textContent = message;
  el.hidden = !message;
}

/** As format.ts `duration`, so live values read like server-rendered ones. */
export function duration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** As layout.tsx `Badge`. */
export function setBadge(el, value) {
  if (!el) return;
  el.className = `badge s-${value}`;
  el.textContent = value.replaceAll("_", " ");
}

/** A duration element; it keeps ticking (app.mjs) while there is a start and no end. */
export function setSpan(el, start, end) {
  if (!el) return;
  if (start && !end) el.dataset.since = start;
  else delete el.dataset.since;
  el.textContent = start ? duration((end ?? Date.now()) - start) : "";
}

export function setLive(on) {
  document.getElementById("live")?.classList.toggle("on", on);
}
