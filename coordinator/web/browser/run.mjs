// The run page: statuses follow the run's event stream, and each event re-reads the run for
// what events do not carry (attempts, step states, approvals).
import { api, enc, page, setBadge, setLive, setSpan } from "./common.mjs";

const ACTIVE = ["queued", "running"];
const taskBox = (name) => document.querySelector(`.task[data-task="${CSS.escape(name)}"]`);

/** Shows elements marked `data-show-phase` / `data-show-status` only while the value is listed. */
function showWhen(root, kind, value) {
  for (const el of root.querySelectorAll(`[data-show-${kind}]`)) {
    el.hidden = !el.getAttribute(`data-show-${kind}`).split(" ").includes(value);
  }
}

function setRun(phase, result) {
  page.phase = phase;
  setBadge(document.querySelector('[data-field="phase"]'), phase);
  showWhen(document, "phase", phase);
  if (result) {
    setBadge(document.querySelector('[data-field="result"]'), result);
    showWhen(document, "result", result);
  }
}

/** As run-extras.tsx `approvalText`. */
function approvalText(task, approvers, min) {
  const by = approvers.length ? `approved by ${approvers.join(", ")}; ` : "";
  const left = min - approvers.length;
  return `${task} is waiting for approval: ${by}${left} more ${left === 1 ? "approver" : "approvers"} needed`;
}

/** The banner's line of each task with an approval: shown while it waits, saying who approved. */
function showApprovals(tasks) {
  const banner = document.getElementById("approvals");
  if (!banner) return;
  for (const line of banner.querySelectorAll("[data-approval]")) {
    const t = tasks.find((task) => task.name === line.dataset.approval);
    line.hidden = t?.status !== "waiting_approval";
    if (t) line.querySelector('[data-field="approval-text"]').textContent = approvalText(t.name, t.annotations.approvers ?? [], Number(line.dataset.min));
  }
  banner.hidden = !banner.querySelector("[data-approval]:not([hidden])");
}

/** As dag.tsx `stepStatus`. */
const stepStatus = (attempt, i) => {
  const status = attempt?.steps[i]?.status ?? "pending";
  return status === "failed" && attempt?.state === "stopped" ? "stopped" : status;
};

function setTask(box, status, shown = status) {
  box.className = `task s-${shown}`;
  setBadge(box.querySelector('[data-field="status"]'), shown);
  showWhen(box, "status", status);
}

/** As dag.tsx `shownStatus`. */
const shownStatus = (t) => {
  const state = t.attempts.at(-1)?.state;
  return t.status === "running" && (state === "queued" || state === "assigned") ? "queued" : t.status;
};

/** As dag.tsx `AttemptChip`. */
function attemptChip(a, task) {
  const dur = document.createElement("span");
  dur.className = "dur";
  setSpan(dur, a.startedAt, a.endedAt);
  const chip = document.createElement("a");
  chip.className = `chip s-${a.state}`;
  chip.href = `/runs/${enc(page.run)}/tasks/${enc(task)}/steps/0?attempt=${a.number}`;
  chip.title = [a.agentId && `agent ${a.agentId}`, a.error].filter(Boolean).join(" · ");
  chip.append(`#${a.number} ${a.state} `, dur);
  return chip;
}

function showRun(run) {
  setRun(run.phase, run.result);
  if (run.startedAt) setSpan(document.querySelector('[data-field="duration"]'), run.startedAt, run.endedAt);
  for (const t of run.tasks) {
    const box = taskBox(t.name);
    if (!box) continue;
    setTask(box, t.status, shownStatus(t));
    box.querySelector('[data-field="attempts"]').replaceChildren(...t.attempts.map((a) => attemptChip(a, t.name)));
    for (const a of box.querySelectorAll("a[data-step]")) a.className = `step s-${stepStatus(t.attempts.at(-1), a.dataset.step)}`;
    const approvals = box.querySelector('[data-field="approvals"]');
    if (approvals) approvals.textContent = `${(t.annotations.approvers ?? []).length}/${approvals.dataset.min} approvals`;
    box.querySelector('[data-field="message"]').textContent = t.statusMessage ?? "";
  }
  showApprovals(run.tasks);
  drawEdges();
}

const curve = ([x1, y1], [x2, y2]) => `C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`;

/**
 * Curves from each parent's right edge to its child's left edge, drawn under the task boxes.
 * An edge that skips a stage would pass behind the boxes in between, so it runs below them.
 */
function drawEdges() {
  const dag = document.getElementById("dag");
  const origin = dag.getBoundingClientRect();
  const boxes = [...dag.querySelectorAll(".task")];
  const stage = (box) => [...dag.children].indexOf(box.closest(".level"));
  const anchor = (box, right) => {
    const r = box.getBoundingClientRect();
    return [(right ? r.right : r.left) - origin.left, r.top - origin.top + 20];
  };
  const bottom = Math.max(0, ...boxes.map((b) => b.getBoundingClientRect().bottom - origin.top));
  let below = bottom + 12;
  const paths = [];
  for (const box of boxes) {
    for (const parent of JSON.parse(box.dataset.parents).map(taskBox).filter(Boolean)) {
      const from = anchor(parent, true);
      const [x2, y2] = anchor(box, false);
      const to = [x2 - 2, y2];
      let d = `M${from.join(",")} ${curve(from, to)}`;
      if (stage(box) - stage(parent) > 1) {
        d = `M${from.join(",")} ${curve(from, [from[0] + 28, below])} L${x2 - 28},${below} ${curve([x2 - 28, below], to)}`;
        below += 6;
      }
      paths.push(`<path d="${d}" marker-end="url(#arrow)"/>`);
    }
  }
  dag.style.paddingBottom = `${Math.max(16, below - bottom)}px`;
  const svg = dag.querySelector("svg.edges");
  svg.setAttribute("width", dag.scrollWidth);
  svg.setAttribute("height", dag.scrollHeight);
  const arrow = '<marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L8,4L0,8z"/></marker>';
  svg.innerHTML = `<defs>${arrow}</defs>${paths.join("")}`;
}

let pending;
/** Re-reads the run, once for a burst of events. */
export function refreshRun() {
  if (page.page !== "run") return;
  clearTimeout(pending);
  pending = setTimeout(async () => {
    const res = await api("GET", `/api/v1/runs/${enc(page.run)}`);
    if (res.ok) showRun(await res.json());
  }, 150);
}

export function watchRun() {
  // It sends the login cookie, as every API call from a page does. It starts after the last event the page was rendered with, and resumes by Last-Event-ID.
  const events = new EventSource(`/api/v1/runs/${enc(page.run)}/events?after=${page.after}`);
  events.onopen = () => setLive(true);
  events.onerror = () => setLive(false);
  const on = (kind, apply) =>
    events.addEventListener(kind, (e) => {
      apply(JSON.parse(e.data));
      refreshRun();
    });
  on("run", (e) => setRun(e.phase, e.result));
  on("task", (e) => taskBox(e.task) && setTask(taskBox(e.task), e.status));
  for (const kind of ["approval", "task_message", "rerun", "cancel"]) on(kind, () => {});
  // steps start and end without events of their own: re-read now and then while the run is active
  setInterval(() => ACTIVE.includes(page.phase) && refreshRun(), 5000);
  addEventListener("resize", drawEdges);
  drawEdges();
}
