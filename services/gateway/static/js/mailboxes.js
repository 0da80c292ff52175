// The workspace's sender mailboxes: list, add, edit (limits, gap, servers), delete, and "Test" (log in now and
// say what failed, in words). A mailbox with IMAP says how reading its replies goes (the inbox's
// `imap_reading`): read and when last checked, failing with the server's words, or connecting; looked at
// again every few seconds while one is connecting, every half minute otherwise.
import { api } from "./api.js";
import { field, h, number, relativeTime, replaceChildren, toast } from "./dom.js";
import { confirmDialog, openDialog } from "./modal.js";

const SECURITY = [["starttls", "STARTTLS"], ["tls", "TLS"], ["none", "None (plain)"]];
const SECURITY_LABEL = Object.fromEntries(SECURITY);

export async function renderMailboxes(root) {
  document.title = "Mailboxes · Leadflow";
  const list = new MailboxList();
  replaceChildren(root,
    h("div", { class: "panel-head" }, h("h1", {}, "Mailboxes"),
      h("button", { type: "button", class: "primary", id: "add-mailbox", onclick: () => openMailboxForm(null, () => list.load()) }, "Add mailbox")),
    h("p", { class: "muted" }, "The addresses campaigns send from. Each has its own daily limit, counted across every campaign that uses it, and a gap between two sends (plus a random extra of up to half of it). Passwords are stored encrypted and never shown again."),
    list.element,
  );
  await list.load();
  root.focus();
}

class MailboxList {
  constructor() {
    this.body = h("tbody");
    this.element = h("div", { class: "table-wrap" }, h("table", { id: "mailboxes" },
      h("caption", { class: "skip" }, "Mailboxes"),
      h("thead", {}, h("tr", {}, ["Mailbox", "SMTP", "Daily limit", "Gap", ""].map((t, i) => h("th", { scope: "col", class: i === 1 || i === 3 ? "hide-narrow" : null }, t)))),
      this.body));
  }

  async load() {
    let page;
    try {
      page = await api.get("/api/v1/mailboxes", { limit: 100 });
    } catch (e) {
      replaceChildren(this.body, h("tr", {}, h("td", { colspan: 5, class: "error" }, e.message)));
      return;
    }
    replaceChildren(this.body, page.items.length ? page.items.map((m) => this.row(m))
      : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No mailbox yet: add the first one to send from.")));
    this.loadedAt = Date.now();
    this.watch(page.items);
  }

  /** Look at the reading states again later, only the states (a test's result or an open dialog stays):
   * every 3 s while one is connecting or for half a minute after a change (a new password is tried at once),
   * every 30 s otherwise. Stops once the page is left. */
  watch(items) {
    clearTimeout(this.timer);
    if (!items.some((m) => m.imap_reading)) return;
    const pending = items.some((m) => m.imap_reading && ["starting", "unknown"].includes(m.imap_reading.state));
    const soon = pending || Date.now() - this.loadedAt < 30000;
    this.timer = setTimeout(async () => {
      if (!this.element.isConnected) return;
      let page;
      try {
        page = await api.get("/api/v1/mailboxes", { limit: 100 });
      } catch {
        this.watch(items);
        return;
      }
      for (const mailbox of page.items) {
        const line = this.body.querySelector(`tr[data-mailbox-id="${mailbox.id}"] .imap-reading`);
        if (line) replaceChildren(line, readingText(mailbox.imap_reading));
      }
      this.watch(page.items);
    }, soon ? 3000 : 30000);
  }

  row(mailbox) {
    const result = h("div", { class: "test-result", "aria-live": "polite" });
    const test = h("button", { type: "button", "aria-label": `Test ${mailbox.email}`, onclick: async () => {
      test.disabled = true;
      replaceChildren(result, h("span", { class: "muted" }, "Logging in…"));
      try {
        showTest(result, await api.post(`/api/v1/mailboxes/${mailbox.id}/test`));
      } catch (e) {
        replaceChildren(result, h("p", { class: "error", role: "alert" }, e.message));
      }
      test.disabled = false;
    } }, "Test");
    const edit = h("button", { type: "button", "aria-label": `Edit ${mailbox.email}`, onclick: () => openMailboxForm(mailbox, () => this.load()) }, "Edit");
    const remove = h("button", { type: "button", class: "link", "aria-label": `Delete ${mailbox.email}`, onclick: async () => {
      const ok = await confirmDialog({
        title: "Delete mailbox",
        message: `Delete ${mailbox.email}? Campaigns stop sending from it; what it sent stays in the leads' history.`,
        confirmLabel: "Delete",
        danger: true,
      });
      if (!ok) return;
      try {
        await api.del(`/api/v1/mailboxes/${mailbox.id}`);
        toast(`${mailbox.email} deleted.`);
      } catch (e) { toast(e.message); }
      this.load();
    } }, "Delete");
    const { smtp } = mailbox;
    return h("tr", { dataset: { mailboxId: mailbox.id } },
      h("td", { class: "mailbox-cell" }, h("strong", {}, mailbox.name), h("br"), h("span", { class: "muted" }, mailbox.email),
        mailbox.imap ? h("div", { class: "imap-reading" }, readingText(mailbox.imap_reading)) : null, result),
      h("td", { class: "hide-narrow" }, `${smtp.host}:${smtp.port}`, h("br"), h("span", { class: "muted" }, SECURITY_LABEL[smtp.security] ?? smtp.security, smtp.username ? ` · ${smtp.username}` : " · no login")),
      h("td", {}, `${number(mailbox.daily_limit)} a day`),
      h("td", { class: "hide-narrow" }, gapText(mailbox.min_gap_seconds)),
      h("td", {}, h("div", { class: "actions" }, test, edit, remove)),
    );
  }
}

/** How reading the mailbox's replies goes, in words (the server's own for a failure, as text). */
function readingText(reading) {
  if (!reading || reading.state === "unknown") return h("span", { class: "muted" }, "Reading replies: no answer from the inbox service");
  if (reading.state === "failing") return h("span", { class: "error" }, `IMAP failing: ${reading.error}`);
  if (reading.state === "starting") return h("span", { class: "muted" }, "Connecting…");
  const read = reading.messages ? `${number(reading.messages)} message${reading.messages === 1 ? "" : "s"} read, the last ${relativeTime(reading.last_message_at)}` : "no message read yet";
  return h("span", { class: "ok", title: read }, `Reading replies · checked ${relativeTime(reading.checked_at)}`);
}

const gapText = (seconds) => (seconds === 0 ? "none" : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`);

function showTest(container, answer) {
  const line = (what, check) => h("li", { class: check.ok ? "ok" : "error" }, `${what}: `, check.ok ? "login works" : check.error);
  replaceChildren(container,
    h("p", { class: answer.ok ? "ok" : "error", role: answer.ok ? null : "alert" }, answer.ok ? "Test passed." : "Test failed."),
    h("ul", { class: "checks" }, line("SMTP", answer.smtp), answer.imap ? line("IMAP", answer.imap) : null),
  );
}

/** One server's settings (SMTP, or IMAP); `given` pre-fills them; an edit leaves the password empty. */
function serverFields(prefix, given, { required, editing }) {
  const id = (name) => `${prefix}-${name}`;
  const inputs = {
    host: h("input", { type: "text", id: id("host"), required, maxlength: 253, value: given?.host ?? "", placeholder: prefix === "smtp" ? "smtp.example.com" : "imap.example.com" }),
    port: h("input", { type: "number", id: id("port"), required, min: 1, max: 65535, value: given?.port ?? (prefix === "smtp" ? 587 : 993) }),
    security: h("select", { id: id("security") }, SECURITY.map(([v, t]) => h("option", { value: v, selected: (given?.security ?? (prefix === "smtp" ? "starttls" : "tls")) === v }, t))),
    username: h("input", { type: "text", id: id("username"), maxlength: 320, value: given?.username ?? "", autocomplete: "off" }),
    password: h("input", { type: "password", id: id("password"), maxlength: 1000, autocomplete: "new-password", placeholder: editing ? "unchanged" : "" }),
  };
  const proto = prefix.toUpperCase();
  const element = h("div", { class: "row" },
    field(id("host"), `${proto} host`, inputs.host, "grow"),
    field(id("port"), `${proto} port`, inputs.port, "narrow"),
    field(id("security"), `${proto} security`, inputs.security),
    field(id("username"), `${proto} username`, inputs.username, "grow"),
    field(id("password"), `${proto} password${editing ? " (leave empty to keep)" : ""}`, inputs.password, "grow"),
  );
  const value = () => {
    const out = { host: inputs.host.value.trim(), port: Number(inputs.port.value), security: inputs.security.value, username: inputs.username.value.trim() };
    if (inputs.password.value || !editing) out.password = inputs.password.value;
    return out;
  };
  return { element, value, inputs };
}

/** Add (`mailbox` null) or edit a mailbox in a dialog; `onSaved` after the server accepted it. */
export function openMailboxForm(mailbox, onSaved) {
  const editing = mailbox !== null;
  const email = h("input", { type: "text", id: "mailbox-email", required: true, maxlength: 320, inputmode: "email", value: mailbox?.email ?? "", placeholder: "sales@example.com" });
  const name = h("input", { type: "text", id: "mailbox-name", required: true, maxlength: 200, value: mailbox?.name ?? "", placeholder: "Dana from Example" });
  const limit = h("input", { type: "number", id: "mailbox-limit", required: true, min: 1, value: mailbox?.daily_limit ?? 30 });
  const gap = h("input", { type: "number", id: "mailbox-gap", required: true, min: 0, value: mailbox?.min_gap_seconds ?? 120 });
  const smtp = serverFields("smtp", mailbox?.smtp, { required: true, editing });
  const imap = serverFields("imap", mailbox?.imap, { required: false, editing: editing && Boolean(mailbox?.imap) });
  const useImap = h("input", { type: "checkbox", id: "mailbox-use-imap", checked: Boolean(mailbox?.imap), onchange: () => { imapBox.hidden = !useImap.checked; } });
  const imapBox = h("div", { hidden: !mailbox?.imap }, imap.element);
  const error = h("div", { class: "error", role: "alert", id: "mailbox-error" });
  const save = h("button", { type: "submit", class: "primary", form: "mailbox-form" }, editing ? "Save" : "Add mailbox");
  const form = h("form", { id: "mailbox-form", onsubmit: async (event) => {
    event.preventDefault();
    replaceChildren(error);
    const body = {
      email: email.value.trim(),
      name: name.value.trim(),
      smtp: smtp.value(),
      daily_limit: Number(limit.value),
      min_gap_seconds: Number(gap.value),
    };
    if (useImap.checked) body.imap = imap.value();
    else if (editing && mailbox.imap) body.imap = null;
    save.disabled = true;
    try {
      const saved = editing ? await api.patch(`/api/v1/mailboxes/${mailbox.id}`, body) : await api.post("/api/v1/mailboxes", body);
      toast(`${saved.email} ${editing ? "saved" : "added"}.`);
      dialog.close();
      onSaved(saved);
    } catch (e) {
      replaceChildren(error, h("ul", {}, e.message.split("; ").map((m) => h("li", {}, m))));
    }
    save.disabled = false;
  } },
    h("div", { class: "row" }, field("mailbox-email", "Email", email, "grow"), field("mailbox-name", "Sender name", name, "grow")),
    h("div", { class: "row" },
      field("mailbox-limit", "Daily limit (emails a day)", limit, "narrow"),
      field("mailbox-gap", "Gap between sends (seconds)", gap, "narrow")),
    h("h3", {}, "SMTP (sending)"), smtp.element,
    h("p", { class: "choice" }, useImap, h("label", { for: "mailbox-use-imap", class: "inline" }, "IMAP (reading replies)")),
    imapBox,
    error,
  );
  const cancel = h("button", { type: "button", onclick: () => dialog.close() }, "Cancel");
  const dialog = openDialog({ title: editing ? `Edit ${mailbox.email}` : "Add mailbox", body: form, footer: [cancel, save] });
  dialog.id = "mailbox-dialog";
  email.focus();
  return dialog;
}
