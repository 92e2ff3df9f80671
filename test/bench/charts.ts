/**
 * A line chart per scale series as a small standalone SVG (no library: a few dozen lines of markup), the x axis
 * logarithmic since each series grows tenfold a step, the y axis from zero, each point labelled with its value.
 */
export interface Series {
  /** the file name and the figure's name in results.json, e.g. dispatch_p50_ms */
  name: string;
  title: string;
  unit: string;
  /** what x counts, e.g. "tasks queued" */
  x: string;
  points: { x: number; y: number }[];
}

const [W, H, LEFT, RIGHT, TOP, BOTTOM] = [560, 320, 64, 44, 40, 48];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const num = (n: number) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6} M` : n.toLocaleString("en-US", { maximumSignificantDigits: 4 }));

export function lineChart(s: Series): string {
  const xs = s.points.map((p) => Math.log10(p.x));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  // four gridlines a round step apart (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × a power of ten), with room above the highest point for its label
  const raw = (Math.max(...s.points.map((p) => p.y)) * 1.15) / 4 || 0.25;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const yMax = 4 * [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * mag).find((step) => step >= raw)!;
  const px = (x: number) => LEFT + (x1 === x0 ? 0.5 : (Math.log10(x) - x0) / (x1 - x0)) * (W - LEFT - RIGHT);
  const py = (y: number) => H - BOTTOM - (y / yMax) * (H - TOP - BOTTOM);
  const ticks = [0, 1, 2, 3, 4].map((i) => (i * yMax) / 4);
  const text = (x: number, y: number, body: string, anchor = "middle", extra = "") =>
    `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" text-anchor="${anchor}"${extra}>${esc(body)}</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>${esc(`${s.title}: ${s.points.map((p) => `${num(p.y)} ${s.unit} at ${num(p.x)}`).join(", ")}`)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    text(W / 2, 22, s.title, "middle", ' font-size="14" font-weight="bold"'),
    ...ticks.map((t) => `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" stroke="#ddd"/>`),
    ...ticks.map((t) => text(LEFT - 6, py(t) + 4, num(t), "end")),
    ...s.points.map((p) => text(px(p.x), H - BOTTOM + 18, num(p.x))),
    text(W / 2, H - 10, s.x),
    text(14, TOP + (H - TOP - BOTTOM) / 2, s.unit, "middle", ` transform="rotate(-90 14 ${TOP + (H - TOP - BOTTOM) / 2})"`),
    `<polyline fill="none" stroke="#2563eb" stroke-width="2" points="${s.points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" ")}"/>`,
    ...s.points.map((p) => `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="#2563eb"/>`),
    // the first and last labels lean inwards, clear of the axis labels and the edge
    ...s.points.map((p, i) => {
      const edge = s.points.length > 1 && (i === 0 ? "start" : i === s.points.length - 1 ? "end" : "");
      return text(px(p.x) + (edge === "start" ? 4 : edge === "end" ? -4 : 0), py(p.y) - 9, num(p.y), edge || "middle");
    }),
    "</svg>",
    "",
  ].join("\n");
}
