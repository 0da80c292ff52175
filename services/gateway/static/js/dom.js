// A tiny element builder and the formatting the views share.

/** h("button", {class: "primary", onclick}, "Save") — attributes starting with "on" become listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function replaceChildren(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

export const number = (n) => (n ?? 0).toLocaleString("en");

/** "just now", "5 min ago", "3 h ago", "2 days ago", then the date. */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return "—";
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days < 30) return `${days} day${days === 1 ? "" : "s"} ago`;
  return new Date(iso).toLocaleDateString("en");
}

/** "in 5 min", "in 3 h", "in 2 days", then the date; "now" once it is due. */
export function untilTime(iso, now = Date.now()) {
  if (!iso) return "—";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  if (seconds < 45) return "now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `in ${hours} h`;
  const days = Math.round(hours / 24);
  if (days < 30) return `in ${days} day${days === 1 ? "" : "s"}`;
  return new Date(iso).toLocaleDateString("en");
}

export const absoluteTime = (iso) => (iso ? new Date(iso).toLocaleString("en") : "");

let toastTimer;
export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("show"), 3500);
}

/** A progress bar with the ARIA values screen readers (and tests) read. */
export function progressBar(label) {
  const fill = h("span");
  const bar = h("div", { class: "bar", role: "progressbar", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, fill);
  bar.set = (percent) => {
    const p = Math.max(0, Math.min(100, Number(percent) || 0));
    bar.setAttribute("aria-valuenow", String(Math.floor(p)));
    fill.style.width = `${p}%`;
  };
  return bar;
}

/** A labelled control: the label names only the control (not the options inside it). */
export const field = (id, text, control, className = "") =>
  h("div", { class: `field ${className}`.trim() }, h("label", { for: id }, text), control);
