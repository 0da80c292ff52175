// A campaign's Sends tab: what the mailer sent, holds or gave up on (GET /campaigns/{id}/sends), by state and a
// page at a time. An uncertain send (its mailer stopped between the server's answer and recording it) is never
// sent again by itself: a person who looked in the mailbox's Sent folder answers for it here, "It was sent" or
// "Send again" (POST /sends/{id}/resolve).
import { api } from "./api.js";
import { absoluteTime, h, relativeTime, replaceChildren, toast } from "./dom.js";
import { confirmDialog } from "./modal.js";

const STATES = [["", "Every state"], ["uncertain", "Uncertain"], ["queued", "Queued"], ["sending", "Sending"], ["sent", "Sent"], ["bounced", "Bounced"], ["failed", "Failed"], ["cancelled", "Cancelled"]];
const PAGE = 100;

export class SendsTab {
  constructor(campaignId) {
    this.campaignId = campaignId;
    this.filter = h("select", { id: "sends-state", onchange: () => this.load() },
      STATES.map(([value, text]) => h("option", { value }, text)));
    this.body = h("tbody");
    this.more = h("button", { type: "button", id: "sends-more", hidden: true, onclick: () => this.load(this.nextAfter) }, "More");
    this.element = h("section", { class: "sends", "aria-label": "Sends" },
      h("p", { class: "muted" }, "Every message of this campaign the mailer sent, holds or gave up on. An uncertain one went to the server when its mailer stopped, so nobody knows whether it left: it is never sent again by itself. Look in the mailbox's Sent folder and answer for it."),
      h("div", { class: "actions" }, h("label", { for: "sends-state" }, "Show"), this.filter),
      h("div", { class: "table-wrap" }, h("table", { id: "sends" },
        h("caption", { class: "skip" }, "Sends"),
        h("thead", {}, h("tr", {}, ["Lead", "Step", "State", "Mailbox", "When", ""].map((t, i) => h("th", { scope: "col", class: i === 3 ? "hide-narrow" : null }, t)))),
        this.body)),
      this.more);
  }

  async load(after = null) {
    const params = { limit: PAGE };
    if (this.filter.value) params.state = this.filter.value;
    if (after) params.after = after;
    let page;
    try {
      page = await api.get(`/api/v1/campaigns/${this.campaignId}/sends`, params);
    } catch (e) {
      replaceChildren(this.body, h("tr", {}, h("td", { colspan: 6, class: "error", role: "alert" }, e.message)));
      return;
    }
    const rows = page.items.map((send) => this.row(send));
    if (after) this.body.append(...rows);
    else replaceChildren(this.body, rows.length ? rows : h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No sends here yet.")));
    this.nextAfter = page.next_after;
    this.more.hidden = !page.next_after;
  }

  row(send) {
    const when = send.sent_at ?? send.queued_at;
    const problem = send.last_error ? h("span", { class: "muted" }, send.last_error) : null;
    return h("tr", { dataset: { sendId: send.id, state: send.state } },
      h("td", {}, send.email, h("br"), h("span", { class: "muted" }, send.subject)),
      h("td", {}, `${send.step} of ${send.total_steps}`),
      h("td", {}, h("span", { class: `badge state-${send.state}` }, send.state), problem && h("br"), problem),
      h("td", { class: "hide-narrow" }, send.mailbox ?? "—", send.message_id ? h("br") : null, send.message_id ? h("span", { class: "muted" }, send.message_id) : null),
      h("td", { title: absoluteTime(when) }, `${send.sent_at ? "sent" : "queued"} ${relativeTime(when)}`),
      h("td", {}, send.state === "uncertain" ? this.resolveButtons(send) : null),
    );
  }

  resolveButtons(send) {
    const resolve = async (outcome, question) => {
      const ok = await confirmDialog({ title: "Resolve an uncertain send", message: question, confirmLabel: outcome === "sent" ? "It was sent" : "Send again" });
      if (!ok) return;
      try {
        await api.post(`/api/v1/sends/${send.id}/resolve`, { outcome });
        toast(outcome === "sent" ? `Recorded as sent to ${send.email}.` : `Queued again for ${send.email}.`);
      } catch (e) { toast(e.message); }
      this.load();
    };
    return h("div", { class: "actions" },
      h("button", { type: "button", "aria-label": `It was sent to ${send.email}`, onclick: () => resolve("sent", `Record step ${send.step} to ${send.email} as sent? The lead moves on to its next step.`) }, "It was sent"),
      h("button", { type: "button", "aria-label": `Send again to ${send.email}`, onclick: () => resolve("resend", `Send step ${send.step} to ${send.email} again? Only if it is not in the mailbox's Sent folder: otherwise the lead gets it twice.`) }, "Send again"));
  }
}
