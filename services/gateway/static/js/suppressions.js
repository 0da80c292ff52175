// The workspace's suppression list: addresses no import ever adds (unsubscribed, hard-bounced, added by hand).
import { api, ApiError } from "./api.js";
import { absoluteTime, field, h, number, relativeTime, replaceChildren, toast } from "./dom.js";
import { confirmDialog } from "./modal.js";

const PAGE = 50;
const SOURCES = { manual: "Added by hand", unsubscribed: "Unsubscribed", bounced: "Hard bounce" };

export async function renderSuppressions(root) {
  document.title = "Suppression list · Leadflow";
  const list = new SuppressionList();
  replaceChildren(root,
    h("h1", {}, "Suppression list"),
    h("p", { class: "muted" }, "Addresses on this list are never imported into any campaign of this workspace: an import reports them as “Suppressed”. Unsubscribes and hard bounces land here by themselves."),
    h("div", { class: "two-up" }, addForm(() => list.load()), uploadForm(() => list.load())),
    list.element,
  );
  await list.load();
  root.focus();
}

function addForm(onAdded) {
  const email = h("input", { type: "text", id: "suppress-email", required: true, maxlength: 320, inputmode: "email", autocomplete: "off", placeholder: "name@example.com" });
  const reason = h("input", { type: "text", id: "suppress-reason", maxlength: 500, placeholder: "asked not to be contacted" });
  const error = h("p", { class: "error", role: "alert" });
  return h("form", { class: "panel", "aria-labelledby": "add-heading", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const added = await api.post("/api/v1/suppressions", { email: email.value.trim(), reason: reason.value.trim() });
      toast(`${added.email} is on the suppression list.`);
      email.value = "";
      reason.value = "";
      onAdded();
    } catch (e) { error.textContent = e.message; }
    email.focus();
  } },
    h("h2", { id: "add-heading" }, "Add an address"),
    h("div", { class: "row" }, field("suppress-email", "Email", email, "grow"), field("suppress-reason", "Reason (optional)", reason, "grow")),
    error,
    h("p", {}, h("button", { type: "submit", class: "primary" }, "Add to the list")),
  );
}

function uploadForm(onUploaded) {
  const file = h("input", { type: "file", id: "suppress-file", accept: ".csv,.txt,text/csv", required: true });
  const reason = h("input", { type: "text", id: "suppress-file-reason", maxlength: 500, placeholder: "the file's name" });
  const result = h("div", { id: "suppress-upload-result", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, "Upload");
  return h("form", { class: "panel", "aria-labelledby": "upload-heading", onsubmit: async (event) => {
    event.preventDefault();
    const form = new FormData();
    form.append("file", file.files[0]);
    if (reason.value.trim()) form.append("reason", reason.value.trim());
    submit.disabled = true;
    replaceChildren(result, h("p", { class: "muted" }, "Uploading…"));
    try {
      showUpload(result, await api.upload("/api/v1/suppressions/upload", form));
      file.value = "";
      onUploaded();
    } catch (e) {
      replaceChildren(result, h("p", { class: "error", role: "alert" },
        e instanceof ApiError && [404, 405].includes(e.status) ? "Uploading a list is not available on this server yet." : e.message));
    }
    submit.disabled = false;
  } },
    h("h2", { id: "upload-heading" }, "Upload a CSV"),
    h("p", { class: "muted" }, "Addresses in the column whose header names the email (“email”, “E-mail”…), else in the first column; any encoding and delimiter an import reads. Every row is checked."),
    h("div", { class: "row" }, field("suppress-file", "CSV file", file, "grow"), field("suppress-file-reason", "Reason for all of them (optional)", reason, "grow")),
    h("p", {}, submit),
    result,
  );
}

function showUpload(container, answer) {
  const rejected = answer.rejected ?? [];
  replaceChildren(container,
    h("ul", { class: "breakdown compact", "aria-label": "Upload breakdown" },
      h("li", { dataset: { outcome: "added" } }, h("b", {}, number(answer.added)), "Added"),
      h("li", { dataset: { outcome: "already" } }, h("b", {}, number(answer.already)), "Already on the list"),
      h("li", { dataset: { outcome: "rejected" } }, h("b", {}, number(rejected.length)), "Rejected")),
    rejected.length ? h("div", { class: "table-wrap" }, h("table", { id: "suppress-rejected", "aria-label": "Rejected rows" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Row"), h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, "Why"))),
      h("tbody", {}, rejected.map((r) => h("tr", {}, h("td", {}, number(r.row)), h("td", { class: "value" }, r.value || "(empty)"), h("td", {}, r.reason)))))) : null,
  );
}

class SuppressionList {
  constructor() {
    this.q = "";
    this.cursors = [null];
    this.page = { items: [], total: 0, next_cursor: null };
    let typing;
    this.search = h("input", { type: "search", id: "suppress-search", placeholder: "part of an address", oninput: () => {
      clearTimeout(typing);
      typing = setTimeout(() => { this.q = this.search.value.trim(); this.cursors = [null]; this.load(); }, 300);
    } });
    this.body = h("tbody");
    this.pager = h("nav", { class: "pager", "aria-label": "Pages" });
    this.element = h("section", { "aria-labelledby": "list-heading" },
      h("h2", { id: "list-heading" }, "On the list"),
      h("div", { class: "row panel", role: "search" }, field("suppress-search", "Search", this.search, "grow")),
      h("div", { class: "table-wrap" }, h("table", { id: "suppressions" },
        h("caption", { class: "skip" }, "Suppressed addresses"),
        h("thead", {}, h("tr", {}, ["Email", "Reason", "Source", "Added", ""].map((t, i) => h("th", { scope: "col", class: i >= 2 && i < 4 ? "hide-narrow" : null }, t)))),
        this.body)),
      this.pager,
    );
  }

  async load() {
    const cursor = this.cursors.at(-1);
    try {
      this.page = await api.get("/api/v1/suppressions", { q: this.q, limit: PAGE, cursor });
    } catch (e) {
      replaceChildren(this.body, h("tr", {}, h("td", { colspan: 5, class: "error" }, e.message)));
      return;
    }
    if (cursor !== this.cursors.at(-1)) return;
    this.render();
  }

  render() {
    const { items, total, next_cursor } = this.page;
    replaceChildren(this.body, items.length ? items.map((item) => this.row(item)) :
      h("tr", {}, h("td", { colspan: 5, class: "empty" }, this.q ? "No address on the list matches." : "The list is empty.")));
    const index = this.cursors.length;
    const first = (index - 1) * PAGE + 1;
    const shown = items.length ? `${number(first)}–${number(first + items.length - 1)} of ${number(total)}` : number(total);
    replaceChildren(this.pager,
      h("button", { type: "button", disabled: index === 1, onclick: () => { if (this.cursors.length > 1) this.cursors.pop(); this.load(); } }, "Previous"),
      h("span", { id: "suppress-status", "aria-live": "polite" }, `${shown} address${total === 1 ? "" : "es"}`),
      h("button", { type: "button", disabled: !next_cursor, onclick: () => { this.cursors.push(next_cursor); this.load(); } }, "Next"),
    );
  }

  row(item) {
    const remove = h("button", { type: "button", class: "link", "aria-label": `Remove ${item.email}`, onclick: async () => {
      const ok = await confirmDialog({
        title: "Remove from the suppression list",
        message: `Remove ${item.email}? Later imports can add this address to campaigns again.`,
        confirmLabel: "Remove",
        danger: true,
      });
      if (!ok) return;
      try {
        await api.del(`/api/v1/suppressions/${encodeURIComponent(item.email)}`);
        toast(`${item.email} removed from the suppression list.`);
      } catch (e) { toast(e.message); }
      this.load();
    } }, "Remove");
    return h("tr", { dataset: { email: item.email } },
      h("td", { class: "email-cell" }, item.email),
      h("td", {}, item.reason || "—"),
      h("td", { class: "hide-narrow" }, SOURCES[item.source] ?? item.source),
      h("td", { class: "hide-narrow" }, h("time", { datetime: item.created_at, title: absoluteTime(item.created_at) }, relativeTime(item.created_at))),
      h("td", {}, remove),
    );
  }
}
