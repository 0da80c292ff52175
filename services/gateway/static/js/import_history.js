// A campaign's imports, newest first: each one's source, state, breakdown and report; Cancel while it runs.
import { api, ApiError } from "./api.js";
import { absoluteTime, h, progressBar, relativeTime, replaceChildren } from "./dom.js";
import { breakdown, cancelImport, importTitle } from "./imports.js";

const PAGE = 20;
// A running import's progress is re-read this often while the tab is open.
const RUNNING_POLL_MS = 2000;
const STATE_LABELS = { running: "Running", completed: "Finished", cancelled: "Cancelled", failed: "Failed" };
const SOURCE_LABELS = { csv: "CSV file", directory: "Company database", pipeline: "Pipeline" };

export class ImportHistory {
  constructor(campaignId) {
    this.campaignId = campaignId;
    this.items = [];
    this.nextCursor = null;
    this.list = h("ol", { class: "import-history", id: "import-history", "aria-label": "Imports" });
    this.more = h("button", { type: "button", hidden: true, onclick: () => this.loadMore() }, "Show older imports");
    this.status = h("p", { class: "muted", "aria-live": "polite" });
    this.element = h("section", { "aria-labelledby": "imports-heading" },
      h("h2", { id: "imports-heading" }, "Import history"), this.status, this.list, h("p", {}, this.more));
  }

  get path() { return `/api/v1/campaigns/${this.campaignId}/imports`; }

  /** The newest imports again (as many as are shown), e.g. after an import or while one runs. */
  async load() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    let page;
    try {
      page = await api.get(this.path, { limit: Math.max(PAGE, this.items.length) });
    } catch (e) {
      this.status.textContent = e instanceof ApiError && e.status === 404
        ? "Import history is not available on this server yet." : e.message;
      return;
    }
    if (this.stopped) return;
    this.items = page.items;
    this.nextCursor = page.next_cursor;
    this.render();
  }

  async loadMore() {
    if (!this.nextCursor) return;
    try {
      const page = await api.get(this.path, { limit: PAGE, cursor: this.nextCursor });
      this.items = this.items.concat(page.items);
      this.nextCursor = page.next_cursor;
    } catch (e) {
      this.status.textContent = e.message;
      return;
    }
    this.render();
  }

  render() {
    this.status.textContent = this.items.length ? "" : "No imports yet: the leads of every import (a CSV file, the pipeline, the company database) are listed here with what happened to each row.";
    replaceChildren(this.list, this.items.map((item) => this.card(item)));
    this.more.hidden = !this.nextCursor;
    if (this.items.some((item) => item.state === "running")) this.timer = setTimeout(() => this.load(), RUNNING_POLL_MS);
  }

  card(item) {
    const started = item.created_at ? h("time", { datetime: item.created_at, title: absoluteTime(item.created_at) }, relativeTime(item.created_at)) : null;
    const source = SOURCE_LABELS[item.source] ?? item.source;
    const title = importTitle(item);
    const running = item.state === "running";
    let progress = null;
    if (running) {
      const bar = progressBar(`Progress of ${title}`);
      bar.set(item.percent);
      const cancel = h("button", { type: "button", class: "danger-outline", onclick: async () => {
        cancel.disabled = true;
        cancel.textContent = "Cancelling…";
        if (await cancelImport(item.id)) this.load();
        else { cancel.disabled = false; cancel.textContent = "Cancel import"; }
      } }, item.cancel_requested ? "Cancelling…" : "Cancel import");
      cancel.disabled = Boolean(item.cancel_requested);
      progress = h("div", { class: "running" }, bar, h("p", {}, cancel));
    }
    return h("li", { class: "panel", dataset: { importId: item.id, state: item.state } },
      h("div", { class: "import-head" },
        h("h3", {}, title),
        h("span", { class: `badge state-${item.state}` }, STATE_LABELS[item.state] ?? item.state)),
      h("p", { class: "muted" }, [source && !title.startsWith(source) ? `${source} · ` : "", "started ", started,
        item.finished_at && !running ? ` · took ${duration(item.created_at, item.finished_at)}` : ""]),
      progress,
      breakdown(item, { compact: true }),
    );
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

function duration(from, to) {
  const seconds = Math.max(0, Math.round((new Date(to) - new Date(from)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${seconds % 60} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
