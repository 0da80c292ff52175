// Small charts drawn as inline SVG (no library, no CDN): vertical bars over days (one series, or several stacked),
// horizontal funnel bars. Each is an image with a title and a description for screen readers, and each bar (each
// part of a stacked bar) says its value on hover.

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return el;
}

/** A step for the value axis: 1, 2 or 5 times a power of ten, so that about `ticks` lines cover `max`. */
export function niceStep(max, ticks = 4) {
  if (max <= 0) return 1;
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  return Math.max(1, step);
}

/** Every day from the first to the last of `days` ([{date: "YYYY-MM-DD", sent}]), missing ones as 0; with `keys`,
 *  those counts of each day ([{date, replies, …}]). */
export function fillDays(days, keys = ["sent"]) {
  if (!days.length) return [];
  const byDate = new Map(days.map((d) => [d.date, d]));
  const sorted = [...byDate.keys()].sort();
  const out = [];
  for (let t = Date.parse(`${sorted[0]}T00:00:00Z`), end = Date.parse(`${sorted.at(-1)}T00:00:00Z`); t <= end; t += 86_400_000) {
    const date = new Date(t).toISOString().slice(0, 10);
    out.push({ date, ...Object.fromEntries(keys.map((key) => [key, byDate.get(date)?.[key] ?? 0])) });
  }
  return out;
}

const chartTitle = (id, title, description) => [svg("title", { id: `${id}-title` }, title), svg("desc", { id: `${id}-desc` }, description)];

/** The frame of vertical bars: `count` slots over a value axis up to at least `max`, with its grid lines. */
function columnFrame(count, max) {
  const width = 640, height = 240, left = 44, right = 12, top = 12, bottom = 40;
  const step = niceStep(Math.max(1, max));
  const ceiling = Math.ceil(Math.max(1, max) / step) * step;
  const plotW = width - left - right, plotH = height - top - bottom;
  const slot = plotW / Math.max(1, count);
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const y = (v) => top + plotH - (v / ceiling) * plotH;
  const every = Math.max(1, Math.ceil(count / 8));
  const grid = [];
  for (let v = 0; v <= ceiling; v += step) {
    grid.push(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(v), y2: y(v) }),
      svg("text", { class: "axis", x: left - 6, y: y(v) + 4, "text-anchor": "end" }, v.toLocaleString("en")));
  }
  const x = (i) => left + i * slot + (slot - barW) / 2;
  const label = (i, text) => i % every === 0 ? svg("text", { class: "axis", x: x(i) + barW / 2, y: height - bottom + 16, "text-anchor": "middle" }, text) : null;
  const chart = (id, title, description, bars) => svg("svg", { class: "chart", id, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-title ${id}-desc`, preserveAspectRatio: "xMidYMid meet" },
    chartTitle(id, title, description), grid, bars);
  return { barW, y, x, label, chart };
}

/** Vertical bars: `items` [{label, value, hint}] in order; `label` under every few bars. */
export function columnChart({ id, title, description, items, unit }) {
  const { barW, y, x, label, chart } = columnFrame(items.length, Math.max(...items.map((i) => i.value)));
  const bars = items.map((item, i) => svg("g", { class: "bar", "data-label": item.label, "data-value": item.value },
    svg("title", {}, `${item.hint ?? item.label}: ${item.value.toLocaleString("en")} ${unit}`),
    svg("rect", { x: x(i), y: y(item.value), width: barW, height: Math.max(0, y(0) - y(item.value)), rx: 2 }),
    label(i, item.label)));
  return chart(id, title, description, bars);
}

/** Vertical bars of several series stacked, the first at the bottom: `items` [{label, hint, values: {key: n}}],
 *  `series` [{key, name}] (each part's class is `series-<key>`, its colour). Each bar is a `g.column` with its
 *  total and each series' value as data attributes (`data-hard-bounces`). */
export function stackedColumnChart({ id, title, description, items, series }) {
  const totals = items.map((item) => series.reduce((sum, s) => sum + (item.values[s.key] ?? 0), 0));
  const { barW, y, x, label, chart } = columnFrame(items.length, Math.max(...totals));
  const columns = items.map((item, i) => {
    let below = 0;
    const parts = series.map((s) => {
      const value = item.values[s.key] ?? 0;
      if (!value) return null;
      const part = svg("g", { class: `part series-${s.key}`, "data-series": s.key, "data-value": value },
        svg("title", {}, `${item.hint ?? item.label}: ${value.toLocaleString("en")} ${s.name}`),
        svg("rect", { x: x(i), y: y(below + value), width: barW, height: Math.max(0, y(below) - y(below + value)) }));
      below += value;
      return part;
    });
    const counts = Object.fromEntries(series.map((s) => [`data-${s.key.replaceAll("_", "-")}`, item.values[s.key] ?? 0]));
    return svg("g", { class: "column", "data-label": item.label, "data-total": totals[i], ...counts }, parts, label(i, item.label));
  });
  return chart(id, title, description, columns);
}

/** Horizontal bars, widest first: `items` [{label, value, note}]. */
export function funnelChart({ id, title, description, items }) {
  const width = 640, rowH = 34, left = 70, right = 150, top = 6;
  const height = top * 2 + rowH * Math.max(1, items.length);
  const max = Math.max(1, ...items.map((i) => i.value));
  const plotW = width - left - right;
  const rows = items.map((item, i) => {
    const y = top + i * rowH;
    const w = (item.value / max) * plotW;
    return svg("g", { class: "bar", "data-label": item.label, "data-value": item.value },
      svg("title", {}, `${item.label}: ${item.value.toLocaleString("en")} ${item.note ?? ""}`.trim()),
      svg("text", { class: "axis", x: left - 8, y: y + rowH / 2 + 4, "text-anchor": "end" }, item.label),
      svg("rect", { x: left, y: y + 5, width: Math.max(item.value ? 2 : 0, w), height: rowH - 10, rx: 3 }),
      svg("text", { class: "value", x: left + w + 8, y: y + rowH / 2 + 4 }, `${item.value.toLocaleString("en")}${item.note ? ` · ${item.note}` : ""}`));
  });
  return svg("svg", { class: "chart funnel", id, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-title ${id}-desc`, preserveAspectRatio: "xMidYMid meet" },
    chartTitle(id, title, description), rows);
}
