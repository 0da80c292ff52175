// A campaign's page: the validation summary, then the Leads tab (filters, table, selection, bulk change).
import { api, ApiError, listen } from "./api.js";
import { absoluteTime, field, h, number, progressBar, relativeTime, replaceChildren, toast } from "./dom.js";
import { openLeadDrawer } from "./drawer.js";
import { openImportWizard } from "./import_wizard.js";
import { confirmDialog, openDialog } from "./modal.js";
import { openDirectoryImport, openPipelineImport } from "./sources.js";
import { STATUSES, VALIDATIONS, statusBadge, stepText, validationBadge } from "./statuses.js";

const PAGE_SIZES = [25, 50, 100];
const SORTABLE = [["company", "Company"], ["email", "Email"], ["status", "Status"], ["last_activity", "Last activity"]];

/** Renders the page; returns what to do when the user leaves it (close streams, stop timers). */
export async function renderCampaign(root, campaignId) {
  let campaign;
  try {
    campaign = await api.get(`/api/v1/campaigns/${campaignId}`);
  } catch (e) {
    replaceChildren(root, h("h1", {}, "Campaign not found"), h("p", {}, e.message), h("a", { href: "#/campaigns" }, "All campaigns"));
    return () => {};
  }
  document.title = `${campaign.name} · Leadflow`;
  const summary = h("section", { class: "panel", "aria-label": "Email validation" });
  const leads = new LeadsTab(campaignId, () => refreshSummary(summary, campaignId));
  const onImported = () => { leads.load(); refreshSummary(summary, campaignId); };
  replaceChildren(root,
    h("p", {}, h("a", { href: "#/campaigns" }, "← Campaigns")),
    h("h1", {}, campaign.name),
    h("div", { class: "tabs", role: "tablist" }, h("span", { role: "tab", "aria-selected": "true" }, "Leads")),
    summary,
    h("div", { class: "actions panel", role: "group", "aria-label": "Add leads" },
      h("button", { type: "button", class: "primary", onclick: () => openImportWizard(campaignId, onImported) }, "Import CSV"),
      h("button", { type: "button", onclick: () => openPipelineImport(campaignId, onImported) }, "Import from Pipeline"),
      h("button", { type: "button", onclick: () => openDirectoryImport(campaignId, onImported) }, "Add from Database"),
    ),
    leads.element,
  );
  await Promise.all([refreshSummary(summary, campaignId), leads.load()]);
  leads.follow();
  // Validation runs in the background for a while after an import: keep the summary current.
  const timer = setInterval(() => refreshSummary(summary, campaignId), 5000);
  return () => { clearInterval(timer); leads.stop(); };
}

async function refreshSummary(section, campaignId) {
  let s;
  try {
    s = await api.get(`/api/v1/campaigns/${campaignId}/validation`);
  } catch {
    replaceChildren(section, h("p", { class: "muted" }, "The validation summary is not available."));
    return;
  }
  const bar = progressBar("Validated");
  bar.set(s.percent);
  const validator = { ok: "", degraded: "The validator has paused SMTP probes (it looks blocked); leads wait.", unavailable: "The validator is not answering; the counts are current." }[s.validator.state];
  const stat = (label, value) => h("span", { class: "stat" }, h("b", {}, number(value)), label);
  replaceChildren(section,
    h("h2", {}, "Email validation"),
    h("div", { class: "summary", id: "validation-summary" },
      h("span", { class: "stat" }, h("b", {}, `${s.percent}%`), "validated"),
      stat("leads", s.total), stat("in progress", s.in_progress), stat("valid", s.valid), stat("invalid", s.invalid), stat("unknown", s.unknown),
      s.validator.queued != null ? stat("queued", s.validator.queued) : null,
    ),
    bar,
    validator ? h("p", { class: "muted" }, validator) : null,
  );
}

class LeadsTab {
  constructor(campaignId, onChanged) {
    this.campaignId = campaignId;
    this.onChanged = onChanged;
    this.query = { q: "", status: "", validation: "", sort: "", limit: 25 };
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

  build() {
    let typing;
    this.search = h("input", { type: "search", id: "lead-search", placeholder: "Email, name or company", oninput: () => {
      clearTimeout(typing);
      typing = setTimeout(() => this.update({ q: this.search.value.trim() }), 300);
    } });
    const choice = (id, all, values, key) => h("select", { id, onchange: (e) => this.update({ [key]: e.target.value }) },
      h("option", { value: "" }, all), values.map((v) => h("option", { value: v }, v.charAt(0).toUpperCase() + v.slice(1))));
    const pageSize = h("select", { id: "page-size", onchange: (e) => this.update({ limit: Number(e.target.value) }) },
      PAGE_SIZES.map((n) => h("option", { value: n }, String(n))));
    this.selectionBar = h("div", { class: "selection", hidden: true, role: "region", "aria-label": "Selection" });
    this.pageBox = h("input", { type: "checkbox", "aria-label": "Select all leads on this page", onchange: (e) => this.selectPage(e.target.checked) });
    this.head = h("tr");
    this.body = h("tbody");
    this.pager = h("nav", { class: "pager", "aria-label": "Pages" });
    replaceChildren(this.element,
      h("div", { class: "row panel", role: "search" },
        field("lead-search", "Search", this.search, "grow"),
        field("status-filter", "Status", choice("status-filter", "All statuses", STATUSES, "status")),
        field("validation-filter", "Validation", choice("validation-filter", "Any validation", VALIDATIONS, "validation")),
        field("page-size", "Per page", pageSize),
      ),
      this.selectionBar,
      h("div", { class: "table-wrap" }, h("table", { id: "leads" }, h("caption", { class: "skip" }, "Leads"), h("thead", {}, this.head), this.body)),
      this.pager,
    );
  }

  update(changes) {
    Object.assign(this.query, changes);
    this.cursors = [null];
    this.clearSelection();
    this.load();
  }

  async load() {
    try {
      this.page = await api.get(this.path, this.params());
    } catch (e) {
      replaceChildren(this.body, h("tr", {}, h("td", { colspan: 7, class: "error" }, e.message)));
      return;
    }
    this.render();
  }

  render() {
    const sortHeader = ([key, label]) => {
      const current = this.query.sort.replace(/^-/, "") === key ? (this.query.sort.startsWith("-") ? "descending" : "ascending") : "none";
      const next = current === "ascending" ? `-${key}` : current === "descending" ? "" : key === "last_activity" ? "-last_activity" : key;
      const arrow = { ascending: " ▲", descending: " ▼", none: "" }[current];
      return h("th", { "aria-sort": current, class: key === "last_activity" ? "hide-narrow" : null },
        h("button", { type: "button", class: "sort", onclick: () => this.update({ sort: next }) }, label, arrow));
    };
    const [company, email, status, last] = SORTABLE.map(sortHeader);
    replaceChildren(this.head, h("th", {}, this.pageBox), company, email, h("th", { class: "hide-narrow" }, "Sequence"), status, h("th", {}, "Validation"), last);
    const items = this.page.items;
    replaceChildren(this.body, items.length ? items.map((lead) => this.row(lead)) :
      h("tr", {}, h("td", { colspan: 7, class: "empty" }, this.hasFilter() ? "No leads match these filters." : "No leads yet: import some above.")));
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
      h("td", { class: "hide-narrow" }, stepText(lead)),
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
      h("button", { type: "button", disabled: index === 1, onclick: () => { this.cursors.pop(); this.load(); } }, "Previous"),
      h("span", { id: "page-status", "aria-live": "polite" }, `Page ${index} of ${pages} · ${shown}`),
      h("button", { type: "button", disabled: !next_cursor, onclick: () => { this.cursors.push(next_cursor); this.load(); } }, "Next"),
    );
  }

  // --- selection and the bulk status change ---

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
    const target = h("select", { id: "bulk-status" }, STATUSES.map((s) => h("option", { value: s }, s.charAt(0).toUpperCase() + s.slice(1))));
    const everyMatch = this.pageBox.checked && !this.allMatching && this.page.total > this.page.items.length
      ? h("button", { type: "button", class: "link", onclick: () => { this.allMatching = true; this.render(); } }, `Select all ${number(this.page.total)} matching`)
      : null;
    replaceChildren(this.selectionBar,
      h("strong", { id: "selected-count" }, `${number(count)} selected`),
      this.allMatching ? h("span", { class: "muted" }, "(every lead matching the filters)") : null,
      everyMatch,
      h("button", { type: "button", class: "link", onclick: () => { this.clearSelection(); this.render(); } }, "Clear"),
      h("label", { for: "bulk-status", class: "inline" }, "Set status to"), target,
      h("button", { type: "button", class: "primary", onclick: () => this.bulkSetStatus(target.value) }, "Apply…"),
    );
  }

  async bulkSetStatus(status) {
    const count = this.selectedCount();
    const ok = await confirmDialog({
      title: "Change status",
      message: `Set the status of ${number(count)} lead${count === 1 ? "" : "s"} to “${status}”? Their sequences follow the new status.`,
      confirmLabel: `Set ${number(count)} to ${status}`,
      danger: true,
    });
    if (!ok) return;
    const body = { action: "set_status", status, ...(this.allMatching ? { filter: this.filter() } : { ids: [...this.selected] }) };
    let job;
    try {
      job = await api.post(`/api/v1/campaigns/${this.campaignId}/leads/bulk`, body);
    } catch (e) {
      toast(e instanceof ApiError && [404, 405].includes(e.status) ? "Bulk changes are not available on this server yet." : e.message);
      return;
    }
    await followJob(job.id, `Setting ${number(count)} leads to ${status}`);
    this.clearSelection();
    this.load();
    this.onChanged();
  }

  // --- live changes ---

  follow() {
    let pending;
    const reload = () => { clearTimeout(pending); pending = setTimeout(() => { this.load(); this.onChanged(); }, 400); };
    const changed = (data) => {
      const ids = data.lead_ids ?? (data.lead_id ? [data.lead_id] : []);
      const shown = this.page.items.some((lead) => ids.includes(lead.id));
      if (shown || this.cursors.length === 1) reload(); // rows on a later page are not on screen
    };
    this.events = listen(`/api/v1/campaigns/${this.campaignId}/leads/events`, {
      resync: reload, // changes were dropped: reload the table
      leads_added: reload, // an import batch landed: the total moved
      lead_changed: changed,
    }, { onError: (source) => {
      if (source.readyState === EventSource.CLOSED) this.events = null; // not offered by this server
    } });
    this.events.onmessage = (event) => changed(JSON.parse(event.data));
  }

  stop() { this.events?.close(); }
}

/** A bulk job's progress in a modal, polled until it ends. */
async function followJob(jobId, title) {
  const bar = progressBar("Progress");
  const text = h("p", { id: "job-status" }, "Starting…");
  const dialog = openDialog({ title, body: [bar, text] });
  dialog.id = "job-dialog";
  for (;;) {
    let job;
    try { job = await api.get(`/api/v1/jobs/${jobId}`); } catch (e) { text.textContent = e.message; return; }
    bar.set(job.percent);
    text.textContent = `${number(job.done)} of ${number(job.total)} · ${Math.floor(job.percent)}%`;
    if (job.state === "completed") { text.textContent = `Done: ${number(job.done)} of ${number(job.total)} leads changed.`; return; }
    if (job.state === "failed") { text.textContent = `The change failed after ${number(job.done)} leads.`; return; }
    await new Promise((r) => setTimeout(r, 500));
  }
}
