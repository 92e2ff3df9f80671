// The step log page: the log is fetched with ?follow=1 and streamed into the <pre> as it is
// written, line by line (log-lines.mjs); a search box highlights matches, and Enter steps through them.
import { ansiParser } from "./ansi.mjs";
import { api, enc, failure, page, setBadge, setLive, setSpan } from "./common.mjs";
import { logView, reveal } from "./log-lines.mjs";
import { lineTimes } from "./log-times.mjs";

const TIMESTAMPS_KEY = "drover.log.timestamps";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function followLog() {
  const pre = document.getElementById("log");
  const state = document.getElementById("log-state");
  const search = document.getElementById("log-search");
  const count = document.getElementById("log-count");
  const jump = document.getElementById("log-first-error");
  const toggle = document.getElementById("log-timestamps");
  const times = lineTimes();
  const view = logView(pre, times);
  let hits = 0;
  let current = -1;
  let wanted = location.hash.match(/^#L(\d+)$/)?.[1];

  const highlight = () => {
    hits = view.search(search.value);
    current = -1;
    count.textContent = search.value ? `${hits} match${hits === 1 ? "" : "es"}` : "";
  };
  search.addEventListener("input", highlight);
  search.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || hits === 0) return;
    for (const m of pre.querySelectorAll("mark.current")) m.classList.remove("current");
    current = (current + 1) % hits;
    const marks = pre.querySelectorAll(`mark[data-hit="${current}"]`);
    for (const m of marks) m.classList.add("current");
    if (marks[0]) reveal(marks[0]);
    marks[0]?.scrollIntoView({ block: "center" });
    count.textContent = `${current + 1} of ${hits}`;
  });
  jump.addEventListener("click", () => {
    const line = view.firstError();
    if (!line) return;
    reveal(line);
    history.replaceState(null, "", `#${line.id}`);
    line.scrollIntoView({ block: "center" });
    showTarget(line);
  });
  addEventListener("hashchange", () => {
    wanted = location.hash.match(/^#L(\d+)$/)?.[1];
    goToWanted();
  });

  /** A #L12 link's line, once it has arrived: opened, scrolled to and marked. */
  function goToWanted() {
    const line = wanted && document.getElementById(`L${wanted}`);
    if (!line) return;
    wanted = undefined;
    reveal(line);
    line.scrollIntoView({ block: "center" });
    showTarget(line);
  }
  function showTarget(line) {
    for (const el of pre.querySelectorAll(".line.target")) el.classList.remove("target");
    line.classList.add("target");
  }

  const append = (added) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 24;
    // with a search on, the new text's matches are numbered after the old ones: redraw it all
    view.append(added);
    if (search.value) highlight();
    jump.hidden = !view.firstError();
    if (wanted) goToWanted();
    else if (atEnd) pre.scrollTop = pre.scrollHeight;
  };

  /** The step's status and duration once the log has ended, from the run. */
  const showFinalStatus = async () => {
    const run = await (await api("GET", `/api/v1/runs/${enc(page.run)}`)).json();
    const attempts = run.tasks.find((t) => t.name === page.task)?.attempts ?? [];
    const attempt = page.attempt ? attempts.find((a) => a.number === Number(page.attempt)) : attempts.at(-1);
    const step = attempt?.steps[page.step];
    if (!step) return;
    setBadge(document.querySelector('[data-field="status"]'), step.status);
    setSpan(document.querySelector('[data-field="duration"]'), step.startedAt, step.endedAt);
  };

  // Timestamps are fetched (and followed) only once asked for; the choice is remembered.
  let logFound = false;
  let stampsFetched = false;
  const followStamps = async () => {
    if (stampsFetched || !logFound || !toggle.checked) return;
    stampsFetched = true;
    const res = await api("GET", `${page.src}&timestamps=1`);
    if (!res.ok) throw await failure(res);
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) view.retime(times.stamps(decoder.decode(r.value, { stream: true })));
  };
  const showStamps = () => {
    pre.classList.toggle("timed", toggle.checked);
    followStamps().catch((err) => {
      state.textContent = `The timestamps stopped: ${err.message}.`;
    });
  };
  toggle.checked = localStorage.getItem(TIMESTAMPS_KEY) === "1";
  toggle.addEventListener("change", () => {
    localStorage.setItem(TIMESTAMPS_KEY, toggle.checked ? "1" : "0");
    showStamps();
  });
  showStamps();

  const follow = async () => {
    let res = await api("GET", page.src);
    // no pinned attempt means the task had not started when the page was made: wait for it
    while (res.status === 404 && !page.attempt) {
      await sleep(2000);
      res = await api("GET", page.src);
    }
    if (!res.ok) throw await failure(res);
    setLive(true);
    state.textContent = "Following the log…";
    logFound = true;
    showStamps();
    const parse = ansiParser();
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      times.bytes(r.value);
      append(parse(decoder.decode(r.value, { stream: true })));
    }
    append(parse(decoder.decode()));
    state.textContent = view.lineCount ? "End of log." : "The log is empty.";
    await showFinalStatus();
  };

  follow()
    .catch((err) => {
      state.textContent = `The log stopped: ${err.message}. Reload to try again.`;
    })
    .finally(() => setLive(false));
}
