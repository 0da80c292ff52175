// One Unibox message (GET /inbox/messages/{id}) beside its lead's context: the lead and campaign, what was sent
// to the lead there (the thread), and the decision (kind and rule; a bounce's status and diagnostic, an
// auto-reply's return date). Opening it marks it read (PATCH); "Mark as unread" undoes that. "Reclassify"
// overturns the decision (POST …/reclassify): the lead follows (docs/inbox.md), the page shows who did it.
// Every text of a message is the sender's, so hostile: it only ever goes in as text, never as markup.
import { api } from "./api.js";
import { absoluteTime, h, replaceChildren, toast } from "./dom.js";

/** The six kinds the inbox decides between (contracts InboundKind), in words. */
export const KINDS = [
  ["reply", "Reply"],
  ["auto_reply", "Auto-reply"],
  ["challenge", "Challenge"],
  ["hard_bounce", "Hard bounce"],
  ["soft_bounce", "Soft bounce"],
  ["delayed", "Delayed"],
];
const KIND_WORDS = Object.fromEntries(KINDS);
export const kindLabel = (kind) => KIND_WORDS[kind] ?? kind;
export const kindBadge = (kind) => h("span", { class: `badge kind-${kind}` }, kindLabel(kind));

const LINKED_BY = {
  message_id: "the Message-ID it answers",
  thread_index: "its Outlook conversation (Thread-Index), to the lead's last send in it",
  address: "its sender's address (the lead's last send)",
};
const BOUNCES = new Set(["hard_bounce", "soft_bounce", "delayed"]);

/** Shows message `id` in `container`; `changed(item)` hears every change of its read state or kind. */
export async function renderMessage(container, id, { isCurrent, changed, names }) {
  replaceChildren(container, h("p", { class: "muted" }, "Loading…"));
  let message;
  try {
    message = await api.get(`/api/v1/inbox/messages/${id}`);
  } catch (e) {
    if (isCurrent()) replaceChildren(container, h("p", { class: "error", role: "alert" }, e.message));
    return;
  }
  if (!isCurrent()) return;
  const view = new MessageView(container, message, { isCurrent, changed, names });
  view.render();
  if (!message.read) await view.setRead(true, { quietly: true });
}

class MessageView {
  constructor(container, message, { isCurrent, changed, names }) {
    Object.assign(this, { container, message, isCurrent, changed, names });
  }

  render() {
    const m = this.message;
    const mailbox = this.names.mailboxes.get(m.mailbox_id);
    this.toggle = h("button", { type: "button", id: "unibox-toggle-read", onclick: () => this.setRead(!this.message.read) },
      m.read ? "Mark as unread" : "Mark as read");
    replaceChildren(this.container,
      h("article", { class: "unibox-message" },
        h("header", { class: "unibox-message-head" },
          h("h2", { id: "unibox-subject" }, m.subject || "(no subject)"),
          h("p", { class: "muted" }, "From ", h("strong", { id: "unibox-from" }, m.from_address || "(no sender)"),
            mailbox ? ` to ${mailbox}` : "", " · ",
            h("time", { datetime: m.received_at }, absoluteTime(m.received_at))),
          h("div", { class: "actions" }, h("span", { id: "unibox-kind-badge" }, kindBadge(m.kind)), this.toggle)),
        h("div", { class: "unibox-reading" },
          h("div", { class: "unibox-main" },
            h("pre", { class: "mail-text", id: "unibox-text" }, m.text || "(no text of their own)"),
            m.full_text && m.full_text !== m.text
              ? h("details", { class: "headers", id: "unibox-full-text" },
                h("summary", {}, "The whole message, quotes included"),
                h("pre", { class: "mail-text" }, m.full_text))
              : null,
            this.reclassifyForm()),
          this.context())));
  }

  /** The lead's context: who, which campaign, what was sent to them, and what the inbox made of it. */
  context() {
    const m = this.message;
    const lead = m.lead
      ? [["Lead", m.lead.email ?? "(not listed)"],
        ["Campaign", m.campaign ? h("a", { href: `#/campaigns/${m.campaign.id}` }, m.campaign.name ?? "(unknown campaign)") : "—"],
        ["Answers", m.step ? `step ${m.step}` : null],
        ["Linked by", LINKED_BY[m.linked_by] ?? m.linked_by]]
      : [["Lead", "None: it answers no send of ours (a stranger, a newsletter)."]];
    const reclassified = m.reclassified_by
      ? [["First decided", `${kindLabel(m.classified_kind)} (${m.classified_rule})`],
        ["Reclassified by", `${m.reclassified_by}${m.reclassified_at ? `, ${absoluteTime(m.reclassified_at)}` : ""}`]]
      : [];
    const decision = [
      ["Kind", kindLabel(m.kind)],
      ["Rule", h("code", {}, m.rule)],
      ...reclassified,
      ["Status", BOUNCES.has(m.kind) || m.status ? m.status ?? "not stated" : null],
      ["Diagnostic", m.diagnostic || null],
      ["Failed address", m.bounced_recipient],
      ["Back on", m.kind === "auto_reply" ? m.return_date ?? "not stated" : m.return_date],
    ];
    const thread = m.thread ?? [];
    return h("aside", { class: "unibox-context", id: "unibox-context", "aria-label": "Lead context" },
      h("h3", {}, "Lead"), fields("unibox-lead", lead),
      h("h3", {}, "Decision"), fields("unibox-decision", decision),
      h("h3", {}, "What was sent"),
      thread.length
        ? h("ol", { class: "unibox-thread", id: "unibox-thread" }, thread.map((sent) => h("li", {},
          h("span", { class: "muted" }, `Step ${sent.step} · `), sent.subject || "(no subject)",
          h("br"), h("time", { class: "muted small", datetime: sent.sent_at }, absoluteTime(sent.sent_at)))))
        : h("p", { class: "muted" }, m.lead ? "Nothing recorded." : "Nothing: no lead."));
  }

  reclassifyForm() {
    const kind = h("select", { id: "unibox-reclassify-kind", onchange: () => { button.disabled = kind.value === this.message.kind; } },
      KINDS.map(([value, text]) => h("option", { value, selected: value === this.message.kind }, text)));
    const button = h("button", { type: "submit", id: "unibox-reclassify", disabled: true }, "Reclassify");
    const note = h("p", { class: "muted small", id: "unibox-reclassify-status", "aria-live": "polite" },
      this.message.lead ? "The lead follows: a reply makes it Replied, a hard bounce Bounced (and suppressed); overturning one undoes that." : "It answers no send: the decision changes, no lead does.");
    return h("form", { class: "unibox-reclassify panel", onsubmit: async (event) => {
      event.preventDefault();
      button.disabled = true;
      try {
        this.message = await api.post(`/api/v1/inbox/messages/${this.message.id}/reclassify`, { kind: kind.value });
      } catch (e) {
        note.textContent = e.message;
        note.classList.add("error");
        button.disabled = false;
        return;
      }
      if (!this.isCurrent()) return;
      this.changed(this.message);
      this.render();
      toast(`Reclassified as ${kindLabel(this.message.kind)}.`);
    } },
    h("label", { for: "unibox-reclassify-kind" }, "Reclassify as"), kind, button, note);
  }

  async setRead(read, { quietly = false } = {}) {
    this.toggle.disabled = true;
    let item;
    try {
      item = await api.patch(`/api/v1/inbox/messages/${this.message.id}`, { read });
    } catch (e) {
      if (!quietly) toast(e.message);
      this.toggle.disabled = false;
      return;
    }
    this.message = { ...this.message, read: item.read };
    this.changed({ ...this.message });
    if (!this.isCurrent()) return;
    this.toggle.textContent = item.read ? "Mark as unread" : "Mark as read";
    this.toggle.disabled = false;
  }
}

function fields(id, pairs) {
  return h("dl", { class: "fields", id }, pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}
