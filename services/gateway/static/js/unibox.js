// The Unibox: every message read from the workspace's mailboxes, across campaigns, newest first (GET
// /inbox/messages), filtered by kind, read state, campaign and mailbox, a page at a time ("Load more" follows
// the cursor). Unread ones are bold. Choosing one shows it beside its lead's context (unibox_message.js).
// New messages arrive live (GET /inbox/stream): each one the filters may take makes the page read the list's
// first page again and put what it has not shown yet on top, so the server's filters decide, not the page.
import { api, listen } from "./api.js";
import { absoluteTime, field, h, number, relativeTime, replaceChildren } from "./dom.js";
import { KINDS, kindBadge, renderMessage } from "./unibox_message.js";

const PAGE = 50;
// New messages come in bursts (a mailbox's batch): one read of the first page for all of them.
const SETTLE_MS = 150;

/** Renders the page; returns what to do when the user leaves it (close the live stream). */
export async function renderUnibox(root) {
  document.title = "Unibox · Leadflow";
  const unibox = new Unibox();
  replaceChildren(root,
    h("h1", {}, "Unibox"),
    h("p", { class: "muted" }, "Every message read from the workspace's mailboxes, across campaigns, newest first. New ones appear as they arrive; open one to see it beside its lead's context."),
    unibox.filters,
    unibox.element,
  );
  await unibox.start();
  root.focus();
  return () => unibox.stop();
}

class Unibox {
  constructor() {
    const select = (id, options) => h("select", { id, onchange: () => this.load() },
      options.map(([value, text]) => h("option", { value }, text)));
    this.kind = select("unibox-kind", [["", "Every kind"], ...KINDS]);
    this.read = select("unibox-read", [["", "Read and unread"], ["true", "Unread only"], ["false", "Read only"]]);
    this.campaign = select("unibox-campaign", [["", "Every campaign"]]);
    this.mailbox = select("unibox-mailbox", [["", "Every mailbox"]]);
    this.filters = h("div", { class: "row panel unibox-filters", role: "group", "aria-label": "Filters" },
      field("unibox-kind", "Kind", this.kind),
      field("unibox-read", "Show", this.read),
      field("unibox-campaign", "Campaign", this.campaign),
      field("unibox-mailbox", "Mailbox", this.mailbox));
    this.status = h("p", { id: "unibox-status", class: "muted", "aria-live": "polite" });
    this.list = h("ol", { id: "unibox-list", class: "unibox-list", "aria-label": "Messages" });
    this.more = h("button", { type: "button", id: "unibox-more", hidden: true, onclick: () => this.load(this.cursor) }, "Load more");
    this.detail = h("section", { id: "unibox-message", class: "unibox-detail", "aria-label": "Message", tabindex: -1 },
      h("p", { class: "muted empty" }, "Choose a message to read it."));
    this.element = h("div", { class: "unibox" },
      h("section", { class: "unibox-pane", "aria-label": "Message list" }, this.status, this.list, this.more),
      this.detail);
    this.shown = new Map(); // id → { item, row }
    this.names = { campaigns: new Map(), mailboxes: new Map() };
    this.selected = null;
    this.generation = 0;
  }

  async start() {
    await this.loadChoices();
    await this.load();
    this.follow();
  }

  stop() {
    this.events?.close();
    this.events = null;
    clearTimeout(this.settle);
    this.stopped = true;
  }

  /** The campaigns and mailboxes to filter by (and to name in the list); a failure leaves "Every …". */
  async loadChoices() {
    const [campaigns, mailboxes] = await Promise.all([
      api.get("/api/v1/campaigns").catch(() => []),
      api.get("/api/v1/mailboxes", { limit: 100 }).then((page) => page.items, () => []),
    ]);
    for (const c of campaigns) this.names.campaigns.set(c.id, c.name);
    for (const m of mailboxes) this.names.mailboxes.set(m.id, m.email);
    this.campaign.append(...campaigns.map((c) => h("option", { value: c.id }, c.name)));
    this.mailbox.append(...mailboxes.map((m) => h("option", { value: m.id }, m.email)));
  }

  params(extra = {}) {
    return { kind: this.kind.value, unread: this.read.value, campaign: this.campaign.value, mailbox: this.mailbox.value, limit: PAGE, ...extra };
  }

  /** The first page (the filters changed), or the next one after `cursor`. */
  async load(cursor = null) {
    const generation = ++this.generation;
    let page;
    try {
      page = await api.get("/api/v1/inbox/messages", this.params({ cursor }));
    } catch (e) {
      if (generation !== this.generation) return;
      this.status.textContent = e.message;
      this.status.classList.add("error");
      return;
    }
    if (generation !== this.generation) return; // the filters changed while it was on its way
    this.status.classList.remove("error");
    if (!cursor) {
      this.shown.clear();
      replaceChildren(this.list);
    }
    for (const item of page.items) this.list.append(this.remember(item));
    this.cursor = page.next_cursor;
    this.more.hidden = !page.next_cursor;
    this.count();
  }

  count(arrived = 0) {
    const n = this.shown.size;
    const filtered = this.kind.value || this.read.value || this.campaign.value || this.mailbox.value;
    const news = arrived ? ` · ${arrived} new just arrived` : "";
    this.status.textContent = n
      ? `${number(n)} message${n === 1 ? "" : "s"} shown${this.cursor ? ", more below" : ""}${news}.`
      : filtered ? "No message matches these filters." : "No messages yet: replies, auto-replies and bounces appear here as the mailboxes are read.";
  }

  remember(item) {
    const row = this.row(item);
    this.shown.set(item.id, { item, row });
    return row;
  }

  row(item) {
    const campaign = item.campaign_id ? this.names.campaigns.get(item.campaign_id) ?? "A campaign" : "No campaign";
    const open = h("button", { type: "button", class: "message-row", "aria-current": item.id === this.selected ? "true" : null, onclick: () => this.open(item.id) },
      h("span", { class: "from" }, item.from_address || "(no sender)"),
      h("time", { datetime: item.received_at, title: absoluteTime(item.received_at) }, relativeTime(item.received_at)),
      h("span", { class: "subject" }, !item.read ? h("span", { class: "skip" }, "Unread: ") : null, item.subject || "(no subject)"),
      h("span", { class: "snippet" }, item.snippet),
      h("span", { class: "tags" }, kindBadge(item.kind), h("span", { class: "muted" }, item.step ? `${campaign} · step ${item.step}` : campaign)));
    return h("li", { class: item.read ? null : "unread", dataset: { messageId: item.id, kind: item.kind } }, open);
  }

  /** A message changed (read, unread, reclassified): its row shows it. */
  changed(item) {
    const shown = this.shown.get(item.id);
    if (!shown) return;
    const row = this.row(item);
    const focused = shown.row.contains(document.activeElement);
    shown.row.replaceWith(row);
    this.shown.set(item.id, { item, row });
    if (focused) row.querySelector(".message-row").focus(); // keyboard users keep their place in the list
  }

  async open(id) {
    this.selected = id;
    for (const { row } of this.shown.values()) {
      const button = row.querySelector(".message-row");
      if (row.dataset.messageId === id) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
    await renderMessage(this.detail, id, {
      isCurrent: () => this.selected === id,
      changed: (item) => this.changed(item),
      names: this.names,
    });
    if (matchMedia("(max-width: 700px)").matches) this.detail.scrollIntoView({ block: "start" });
  }

  /** Live: the page reads its first page again when a message arrives that its filters may take. */
  follow() {
    const head = () => this.soon();
    this.events = listen("/api/v1/inbox/stream", {
      ready: head, // (re)connected: whatever arrived meanwhile
      resync: head, // some were missed
      stored: (stored) => { if (this.mayShow(stored)) head(); },
    }, { onError: (source) => {
      if (source.readyState === EventSource.CLOSED) this.events = null; // not offered by this server
    } });
  }

  mayShow(stored) {
    return (!this.kind.value || this.kind.value === stored.kind)
      && (!this.campaign.value || this.campaign.value === stored.campaign_id)
      && (!this.mailbox.value || this.mailbox.value === stored.mailbox_id)
      && this.read.value !== "false"; // a new message is unread
  }

  soon() {
    clearTimeout(this.settle);
    this.settle = setTimeout(() => { this.refreshing = (this.refreshing ?? Promise.resolve()).then(() => this.head()); }, SETTLE_MS);
  }

  /** Puts on top what the first page has and the list does not show yet. */
  async head() {
    if (this.stopped) return;
    const generation = this.generation;
    let page;
    try {
      page = await api.get("/api/v1/inbox/messages", this.params());
    } catch {
      return; // the next arrival (or a reload) tries again
    }
    if (generation !== this.generation || this.stopped) return;
    const top = this.shown.get(this.list.firstElementChild?.dataset.messageId)?.item;
    const newer = (item) => !top || new Date(item.received_at) >= new Date(top.received_at);
    const fresh = page.items.filter((item) => !this.shown.has(item.id) && newer(item));
    if (top && fresh.length === PAGE) {
      await this.load(); // more arrived than a page holds: read the list anew
      return;
    }
    if (!top) { this.cursor = page.next_cursor; this.more.hidden = !page.next_cursor; }
    const rows = fresh.map((item) => this.remember(item));
    for (const row of rows) row.classList.add("arrived");
    this.list.prepend(...rows);
    if (rows.length) this.count(rows.length);
  }
}
