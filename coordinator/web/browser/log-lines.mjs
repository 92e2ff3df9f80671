// A step log drawn line by line: numbered lines that link to themselves (#L12), sections that fold
// (GitHub's ::group::/::endgroup::, Buildkite's `--- `, `+++ ` and `~~~ ` headers), search marks.
import { toHtml } from "./ansi.mjs";
import { clock } from "./log-times.mjs";

const GROUP = /^::group::\s*(.*)$/;
const END_GROUP = /^::endgroup::/;
/** Buildkite: `--- name` and `~~~ name` start a folded section, `+++ name` an open one. */
const SECTION = /^(---|\+\+\+|~~~) (.*)$/;
/** What counts as an error line, for "Jump to the first error". */
const ERROR = /\b(error|errors|failed|failure|fatal|panic)\b|^not ok\b|✖/i;

const textOf = (line) => line.map((s) => s.text).join("");

/** Splits segments at newlines, adding them to `lines` (whose last line is still open). */
function addSegments(lines, segments) {
  for (const seg of segments) {
    const parts = seg.text.split("\n");
    parts.forEach((text, i) => {
      if (i > 0) lines.push([]);
      if (text) lines.at(-1).push({ text, cls: seg.cls });
    });
  }
}

/** Shows line `n`'s time (`times` is log-times.mjs's lineTimes) in its row's `.ts`; shown while the log has class `timed`. */
function showTime(el, n, times) {
  const ms = times?.at(n);
  const ts = el.querySelector(":scope > .ts");
  if (ms === undefined || ts.dataset.ms === String(ms)) return;
  ts.dataset.ms = String(ms);
  ts.textContent = clock(ms);
  ts.title = new Date(ms).toISOString();
}

export function logView(pre, times) {
  const lines = [[]];
  let query = "";
  let hits = 0;
  let done = 0; // complete lines drawn
  let stack = [pre]; // open groups, innermost last
  let section = null; // the open Buildkite section (they do not nest)
  let tail = null; // the open last line's element
  let firstError = null;

  const row = (n, line) => {
    const el = document.createElement("div");
    el.className = "line";
    el.id = `L${n}`;
    const { html, count } = toHtml(line, query, hits);
    hits += count;
    el.innerHTML = `<a class="ln" href="#L${n}" aria-label="line ${n}">${n}</a><span class="ts"></span><span class="lt">${html}</span>`;
    showTime(el, n, times);
    return el;
  };
  const fold = (n, line, name, open) => {
    const details = document.createElement("details");
    details.className = "group";
    details.open = open;
    const summary = document.createElement("summary");
    summary.append(row(n, line));
    // the header shows its name, without the marker
    summary.querySelector(".lt").textContent = name;
    details.append(summary);
    return details;
  };

  const draw = (n, line) => {
    const text = textOf(line);
    const group = text.match(GROUP);
    if (group) {
      const details = fold(n, line, group[1], false);
      stack.at(-1).append(details);
      stack.push(details);
      return;
    }
    if (END_GROUP.test(text) && stack.length > 1 && stack.at(-1) !== section) {
      stack.pop();
      stack.at(-1).append(row(n, line));
      return;
    }
    const header = text.match(SECTION);
    if (header) {
      if (section) stack = stack.slice(0, stack.indexOf(section));
      section = fold(n, line, header[2], header[1] === "+++");
      stack.at(-1).append(section);
      stack.push(section);
      return;
    }
    const el = row(n, line);
    if (!firstError && ERROR.test(text)) firstError = el;
    stack.at(-1).append(el);
  };

  /** Draws what became complete, and the open last line anew. */
  const flush = () => {
    tail?.remove();
    tail = null;
    for (; done < lines.length - 1; done++) draw(done + 1, lines[done]);
    if (lines.at(-1).length) {
      tail = row(lines.length, lines.at(-1));
      stack.at(-1).append(tail);
    }
  };

  return {
    append(segments) {
      addSegments(lines, segments);
      flush();
    },
    /** Redraws everything with `q`'s matches marked; resolves to the number of matches. */
    search(q) {
      query = q;
      hits = 0;
      done = 0;
      stack = [pre];
      section = null;
      tail = null;
      firstError = null;
      pre.replaceChildren();
      flush();
      return hits;
    },
    /** New timestamps arrived: the times of the lines from byte `from` on may have changed. */
    retime(from) {
      for (let n = times.lineFrom(from); n <= times.lines; n++) {
        const el = document.getElementById(`L${n}`);
        if (el) showTime(el, n, times);
      }
    },
    get lineCount() {
      return textOf(lines.at(-1)) ? lines.length : lines.length - 1;
    },
    firstError: () => firstError,
  };
}

/** Opens the folded sections around `el`, so that it can be seen. */
export function reveal(el) {
  for (let d = el.closest("details"); d; d = d.parentElement.closest("details")) d.open = true;
}
