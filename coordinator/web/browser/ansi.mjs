// ANSI colours and search matches in a step log, turned into HTML.

// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the sequences this matches
const SEQUENCE = /\x1b\[([\d;]*)([A-Za-z])/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: a sequence cut off at the end of a chunk
const CUT_OFF = /\x1b(\[[\d;]*)?$/;

/**
 * A parser for a log arriving in chunks: each call turns a chunk into [{text, cls}] segments,
 * carrying the colour state (and a sequence split between chunks) over to the next call.
 * SGR codes 30–37 and 90–97 set the colour (class fgN), 1 bold (class b), 0 resets.
 */
export function ansiParser() {
  let fg = "";
  let bold = false;
  let carry = "";
  const cls = () => [fg, bold ? "b" : ""].filter(Boolean).join(" ");
  return (chunk) => {
    let text = carry + chunk;
    const cut = text.search(CUT_OFF);
    carry = cut >= 0 ? text.slice(cut) : "";
    if (cut >= 0) text = text.slice(0, cut);
    const segments = [];
    let at = 0;
    for (const m of text.matchAll(SEQUENCE)) {
      if (m.index > at) segments.push({ text: text.slice(at, m.index), cls: cls() });
      at = m.index + m[0].length;
      if (m[2] !== "m") continue; // cursor movements and the like mean nothing in a saved log
      for (const p of (m[1] || "0").split(";").map(Number)) {
        if (p === 0) [fg, bold] = ["", false];
        else if (p === 1 || p === 22) bold = p === 1;
        else if (p === 39) fg = "";
        else if ((p >= 30 && p <= 37) || (p >= 90 && p <= 97)) fg = `fg${p}`;
      }
    }
    if (at < text.length) segments.push({ text: text.slice(at), cls: cls() });
    return segments;
  };
}

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ENTITIES[c]);
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * HTML for segments, every case-insensitive match of `query` in <mark data-hit=N> (N counted from
 * `first`). A match that crosses a colour change becomes several marks with the same N.
 */
export function toHtml(segments, query, first = 0) {
  const full = segments.map((s) => s.text).join("");
  const hits = query ? [...full.matchAll(new RegExp(escapeRegExp(query), "gi"))].map((m) => [m.index, m.index + m[0].length]) : [];
  let html = "";
  let pos = 0;
  let h = 0;
  for (const s of segments) {
    let piece = "";
    for (let i = 0; i < s.text.length; ) {
      while (h < hits.length && hits[h][1] <= pos + i) h++;
      const [start, end] = hits[h] ?? [Number.POSITIVE_INFINITY];
      const inHit = pos + i >= start;
      const stop = Math.min(s.text.length, (inHit ? end : start) - pos);
      const text = escapeHtml(s.text.slice(i, stop));
      piece += inHit ? `<mark data-hit="${first + h}">${text}</mark>` : text;
      i = stop;
    }
    html += s.cls ? `<span class="${s.cls}">${piece}</span>` : piece;
    pos += s.text.length;
  }
  return { html, count: hits.length };
}
