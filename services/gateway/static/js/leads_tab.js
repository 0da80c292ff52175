// The Leads tab: filters, export, the table (live), paging, selection and the bulk status change or removal.
import { api, ApiError, listen } from "./api.js";
import { absoluteTime, field, h, number, progressBar, relativeTime, replaceChildren, toast } from "./dom.js";
import { openLeadDrawer } from "./drawer.js";
import { confirmDialog, openDialog } from "./modal.js";
import { STATUSES, VALIDATIONS, label, sequenceCell, statusBadge, validationBadge } from "./statuses.js";

const PAGE_SIZES = [25, 50, 100];
const SORTABLE = [["company", "Company"], ["email", "Email"], ["status", "Status"], ["last_activity", "Last activity"]];
// What users expect first: the leads something last happened to.
const DEFAULT_SORT = "-last_activity";
// While leads of a finished import are still on their way, the table re-reads itself this often (besides
// the live stream), so it fills in even where the stream is not offered.
const ARRIVING_POLL_MS = 2000;

export class LeadsTab {
  constructor(campaignId, onChanged) {
    this.campaignId = campaignId;
    this.onChanged = onChanged;
    this.query = { q: "", status: "", validation: "", sort: DEFAULT_SORT, limit: 25 };
    this.cursors = [null]; // the cursor of each page visited, for "Previous"
    this.page = { items: [], total: 0, next_cursor: null };
    this.selected = new Set();
    this.allMatching = false;
    this.element = h("section", { "aria-label": "Leads" });
    this.build();
  }

  get path() { return `/api/v1/campaigns/${this.campaignId}/leads`; }

  params() {
    const { q, status, validation, sort, limit } = this.query;
    return { q, status, validation, sort, limit, cursor: this.cursors.at(-1) };
  }

  filter() {
    const { q, status, validation } = this.query;
    const filter = {};
    if (q) filter.q = q;
    if (status) filter.status = [status];
    if (validation) filter.validation = validation;
    return filter;
  }

  /** The export of what the table shows: the same filter and order, every page. */
  exportHref() {
    const url = new URL(`${this.path}/export.csv`, location.origin);
    const { q, status, validation, sort } = this.query;
    for (const [name, value] of Object.entries({ q, status, validation, sort })) if (value) url.searchParams.set(name, value);
    return url.pathname + url.search;
  }

  build() {
    let typing;
    this.search = h("input", { type: "search", id: "lead-search", placeholder: "Email, name or company", oninput: () => {
      clearTimeout(typing);
      typing = setTimeout(() => this.update({ q: this.search.value.trim() }), 300);
    } });
    const choice = (id, all, values, key) => h("select", { id, onchange: (e) => this.update({ [key]: e.target.value }) },
      h("option", { value: "" }, all), values.map((v) => h("option", { value: v }, label(v))));
    const pageSize = h("select", { id: "page-size", onchange: (e) => this.update({ limit: Number(e.target.value) }) },
      PAGE_SIZES.map((n) => h("option", { value: n }, String(n))));
    this.exportLink = h("a", { class: "button", id: "export-leads", href: this.exportHref(), download: "" }, "Export CSV");
    this.selectionBar = h("div", { class: "selection", hidden: true, role: "region", "aria-label": "Selection" });
    this.arriving = h("p", { class: "arriving", id: "arriving", role: "status", hidden: true });
    this.pageBox = h("input", { type: "checkbox", "aria-label": "Select all leads on this page", onchange: (e) => this.selectPage(e.target.checked) });
    this.head = h("tr");
    this.body = h("tbody");
    this.tableWrap = h("div", { class: "table-wrap" }, h("table", { id: "leads" }, h("caption", { class: "skip" }, "Leads"), h("thead", {}, this.head), this.body));
    this.pager = h("nav", { class: "pager", "aria-label": "Pages" });
    replaceChildren(this.element,
      h("div", { class: "row panel", role: "search" },
        field("lead-search", "Search", this.search, "grow"),
        field("status-filter", "Status", choice("status-filter", "All statuses", STATUSES, "status")),
        field("validation-filter", "Validation", choice("validation-filter", "Any validation", VALIDATIONS, "validation")),
        field("page-size", "Per page", pageSize),
        h("div", { class: "field" }, this.exportLink),
      ),
      this.arriving,
      this.selectionBar,
      this.tableWrap,
      this.pager,
    );
  }

  update(changes) {
    Object.assign(this.query, changes);
    this.cursors = [null];
    this.clearSelection();
    this.exportLink.setAttribute("href", this.exportHref());
    this.load();
  }

  async load() {
    if (this.stopped) return;
    let page;
    const asked = this.params();
    try {
      page = await api.get(this.path, asked);
    } catch (e) {
      replaceChildren(this.body, h("tr", {}, h("td", { colspan: 7, class: "error" }, e.message)));
      return;
    }
    if (this.stopped || asked.cursor !== this.cursors.at(-1)) return; // left, or paged on meanwhile
    this.page = page;
    this.render();
    this.watchArrivals();
  }

  /** Leads of a finished import that the list does not show yet (0 for a server that does not say). */
  get arrivingCount() { return Number(this.page.arriving) || 0; }

  watchArrivals() {
    clearTimeout(this.arrivalTimer);
    if (this.arrivingCount > 0) this.arrivalTimer = setTimeout(() => { this.load(); this.onChanged(); }, ARRIVING_POLL_MS);
  }

  render() {
    const sortHeader = ([key, text]) => {
      const current = this.query.sort.replace(/^-/, "") === key ? (this.query.sort.startsWith("-") ? "descending" : "ascending") : "none";
      const first = key === "last_activity" ? `-${key}` : key;
      const next = current === "ascending" ? `-${key}` : current === "descending" ? key : first;
      const arrow = { ascending: " ▲", descending: " ▼", none: "" }[current];
      return h("th", { "aria-sort": current, class: key === "last_activity" ? "hide-narrow" : null },
        h("button", { type: "button", class: "sort", onclick: () => this.update({ sort: next }) }, text, arrow));
    };
    const [company, email, status, last] = SORTABLE.map(sortHeader);
    replaceChildren(this.head, h("th", {}, this.pageBox), company, email, h("th", { class: "hide-narrow" }, "Sequence"), status, h("th", {}, "Validation"), last);
    const items = this.page.items;
    const arriving = this.arrivingCount;
    const plural = (n) => `${number(n)} lead${n === 1 ? "" : "s"}`;
    // The page is not empty while an import's leads are still being listed: say so, never "No leads yet".
    this.arriving.hidden = !(arriving > 0 && items.length);
    const are = arriving === 1 ? "is" : "are";
    this.arriving.textContent = arriving > 0
      ? `${number(arriving)} more lead${arriving === 1 ? "" : "s"} from a finished import ${are} on the way; they appear as they arrive.` : "";
    const empty = this.hasFilter() ? "No leads match these filters."
      : arriving > 0 ? `${plural(arriving)} from a finished import ${are} on the way; they appear here as they arrive.`
        : "No leads yet: import some above.";
    replaceChildren(this.body, items.length ? items.map((lead) => this.row(lead)) :
      h("tr", {}, h("td", { colspan: 7, class: `empty ${arriving > 0 ? "on-the-way" : ""}`.trim() }, empty)));
    this.syncSelection();
    this.renderPager();
  }

  hasFilter() { return Boolean(this.query.q || this.query.status || this.query.validation); }

  row(lead) {
    const box = h("input", { type: "checkbox", "aria-label": `Select ${lead.email}`, onchange: (e) => {
      if (e.target.checked) this.selected.add(lead.id); else this.selected.delete(lead.id);
      this.allMatching = false;
      this.syncSelection();
    } });
    box.checked = this.allMatching || this.selected.has(lead.id);
    return h("tr", { dataset: { leadId: lead.id } },
      h("td", {}, box),
      h("td", {}, lead.company_name || "—"),
      h("td", { class: "email" }, h("button", { type: "button", onclick: () => openLeadDrawer(lead.id) }, lead.email)),
      h("td", { class: "hide-narrow sequence" }, sequenceCell(lead)),
      h("td", {}, statusBadge(lead.status)),
      h("td", {}, validationBadge(lead.validation, lead.validation_reason)),
      h("td", { class: "hide-narrow" }, h("time", { datetime: lead.last_activity_at ?? "", title: absoluteTime(lead.last_activity_at) }, relativeTime(lead.last_activity_at))),
    );
  }

  renderPager() {
    const { total, next_cursor } = this.page;
    const index = this.cursors.length;
    const pages = Math.max(1, Math.ceil(total / this.query.limit));
    const first = (index - 1) * this.query.limit + 1;
    const last = first + this.page.items.length - 1;
    const shown = this.page.items.length ? `${number(first)}–${number(last)} of ${number(total)} leads` : `${number(total)} leads`;
    replaceChildren(this.pager,
      h("button", { type: "button", disabled: index === 1, onclick: () => this.turn(() => { if (this.cursors.length > 1) this.cursors.pop(); }) }, "Previous"),
      h("span", { id: "page-status", "aria-live": "polite" }, `Page ${index} of ${pages} · ${shown}`),
      h("button", { type: "button", disabled: !next_cursor, onclick: () => this.turn(() => this.cursors.push(next_cursor)) }, "Next"),
    );
  }

  /** Another page, shown from its first row: the pager sits below the table, so the new page would
   * otherwise open scrolled to its end. */
  async turn(move) {
    move();
    await this.load();
    if (this.tableWrap.getBoundingClientRect().top < 0) this.tableWrap.scrollIntoView({ block: "start" });
  }

  selectPage(checked) {
    for (const lead of this.page.items) if (checked) this.selected.add(lead.id); else this.selected.delete(lead.id);
    if (!checked) this.allMatching = false;
    this.render();
  }

  clearSelection() { this.selected.clear(); this.allMatching = false; }

  selectedCount() { return this.allMatching ? this.page.total : this.selected.size; }

  syncSelection() {
    const onPage = this.page.items.filter((l) => this.allMatching || this.selected.has(l.id)).length;
    this.pageBox.checked = onPage > 0 && onPage === this.page.items.length;
    this.pageBox.indeterminate = onPage > 0 && onPage < this.page.items.length;
    const count = this.selectedCount();
    this.selectionBar.hidden = count === 0;
    if (!count) return;
    const target = h("select", { id: "bulk-status" }, STATUSES.map((s) => h("option", { value: s }, label(s))));
    const everyMatch = this.pageBox.checked && !this.allMatching && this.page.total > this.page.items.length
      ? h("button", { type: "button", class: "link", onclick: () => { this.allMatching = true; this.render(); } }, `Select all ${number(this.page.total)} matching`)
      : null;
    replaceChildren(this.selectionBar,
      h("strong", { id: "selected-count" }, `${number(count)} selected`),
      this.allMatching ? h("span", { class: "muted" }, "(every lead matching the filters)") : null,
      everyMatch,
      h("button", { type: "button", class: "link", onclick: () => { this.clearSelection(); this.render(); } }, "Clear"),
      h("span", { class: "group" },
        h("label", { for: "bulk-status", class: "inline" }, "Set status to"), target,
        h("button", { type: "button", class: "primary", onclick: () => this.bulkSetStatus(target.value) }, "Apply…")),
      h("button", { type: "button", class: "danger-outline", id: "bulk-remove", onclick: () => this.bulkRemove() }, "Remove from campaign…"),
    );
  }

  selection() { return this.allMatching ? { filter: this.filter() } : { ids: [...this.selected] }; }

  async bulkSetStatus(status) {
    const count = this.selectedCount();
    const ok = await confirmDialog({
      title: "Change status",
      message: `Set the status of ${number(count)} lead${count === 1 ? "" : "s"} to “${status}”? Their sequences follow the new status.`,
      confirmLabel: `Set ${number(count)} to ${status}`,
      danger: true,
    });
    if (ok) await this.runBulk({ action: "set_status", status }, `Setting ${number(count)} leads to ${status}`, "changed");
  }

  async bulkRemove() {
    const count = this.selectedCount();
    const them = count === 1 ? "it" : "them";
    const ok = await confirmDialog({
      title: "Remove leads",
      message: `Remove ${number(count)} lead${count === 1 ? "" : "s"} from this campaign? Their sequences stop and ${them} leave the table; `
        + `their history is kept, and the address${count === 1 ? "" : "es"} can be imported into the campaign again.`,
      confirmLabel: `Remove ${number(count)} lead${count === 1 ? "" : "s"}`,
      danger: true,
    });
    if (ok) await this.runBulk({ action: "remove" }, `Removing ${number(count)} leads`, "removed");
  }

  async runBulk(action, title, verb) {
    let job;
    try {
      job = await api.post(`${this.path}/bulk`, { ...action, ...this.selection() });
    } catch (e) {
      toast(e instanceof ApiError && [404, 405].includes(e.status) ? "Bulk changes are not available on this server yet." : e.message);
      return;
    }
    await followJob(job.id, title, verb);
    this.clearSelection();
    this.load();
    this.onChanged();
  }

  follow() {
    let pending;
    const reload = () => { clearTimeout(pending); pending = setTimeout(() => { this.load(); this.onChanged(); }, 400); };
    const changed = (data) => {
      const ids = data.lead_ids ?? (data.lead_id ? [data.lead_id] : []);
      const shown = this.page.items.some((lead) => ids.includes(lead.id));
      if (shown || this.cursors.length === 1) reload(); // rows on a later page are not on screen
    };
    this.events = listen(`${this.path}/events`, {
      resync: reload, // changes were dropped: reload the table
      leads_added: reload, // an import batch landed: the total moved
      import_finished: reload, // its leads still on the way are counted now
      lead_changed: changed,
    }, { onError: (source) => {
      if (source.readyState === EventSource.CLOSED) this.events = null; // not offered by this server
    } });
    this.events.onmessage = (event) => changed(JSON.parse(event.data));
  }

  stop() {
    this.events?.close();
    clearTimeout(this.arrivalTimer);
    this.stopped = true;
  }
}

/** A bulk job's progress in a modal, polled until it ends. */
async function followJob(jobId, title, verb) {
  const bar = progressBar("Progress");
  const text = h("p", { id: "job-status" }, "Starting…");
  const dialog = openDialog({ title, body: [bar, text] });
  dialog.id = "job-dialog";
  for (;;) {
    let job;
    try { job = await api.get(`/api/v1/jobs/${jobId}`); } catch (e) { text.textContent = e.message; return; }
    bar.set(job.percent);
    text.textContent = `${number(job.done)} of ${number(job.total)} · ${Math.floor(job.percent)}%`;
    if (job.state === "completed") { text.textContent = `Done: ${number(job.done)} of ${number(job.total)} leads ${verb}.`; return; }
    if (job.state === "failed") { text.textContent = `The change failed after ${number(job.done)} leads.`; return; }
    await new Promise((r) => setTimeout(r, 500));
  }
}
