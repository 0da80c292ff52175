// A campaign's status at the top of its page: the badge, Activate / Pause / Resume, every reason a change was
// refused (409), why it paused itself (bounce protection), and the warnings that keep it from sending as set
// (an unhealthy mailbox).
import { api } from "./api.js";
import { h, replaceChildren, toast } from "./dom.js";
import { label } from "./statuses.js";

// The action each status offers, with what the button says.
const ACTIONS = { draft: ["activate", "Activate"], active: ["pause", "Pause"], paused: ["resume", "Resume"] };
const HINT = {
  draft: "Not sending: activate it once it has steps and a mailbox.",
  active: "Sending inside its schedule.",
  paused: "Paused: nothing is sent until it is resumed.",
  completed: "Completed: every lead has finished its sequence.",
};

export class CampaignStatus {
  /** `onChanged(campaign)` hears the campaign as the server answered a change. */
  constructor(campaign, onChanged) {
    this.campaign = campaign;
    this.onChanged = onChanged;
    this.element = h("section", { class: "campaign-status panel", id: "campaign-status", "aria-label": "Campaign status" });
    this.reasons = [];
    this.render();
  }

  update(campaign) {
    this.campaign = campaign;
    this.render();
  }

  render() {
    const { status, warnings = [], paused_reason: pausedReason, paused_detail: pausedDetail } = this.campaign;
    const action = ACTIONS[status];
    const button = action ? h("button", { type: "button", class: action[0] === "pause" ? "" : "primary", id: `campaign-${action[0]}`, onclick: () => this.change(action[0], button) }, action[1]) : null;
    replaceChildren(this.element,
      h("div", { class: "status-line" },
        h("span", { class: `badge campaign-${status}`, id: "campaign-state" }, label(status)),
        h("span", { class: "muted" }, HINT[status] ?? ""),
        button),
      status === "paused" && pausedReason === "bounce_protection" ? h("div", { class: "banner warn", role: "status", id: "campaign-paused-reason" },
        h("strong", {}, "Paused by bounce protection: "), pausedDetail ?? "too many recent sends bounced.",
        " Check the list and the mailbox before resuming.") : null,
      this.reasons.length ? h("div", { class: "banner warn", role: "alert", id: "campaign-refused" },
        h("strong", {}, this.refusedAction === "activate" ? "The campaign cannot start yet:" : "Refused:"),
        h("ul", {}, this.reasons.map((r) => h("li", {}, r)))) : null,
      warnings.length ? h("div", { class: "banner warn", id: "campaign-warnings" },
        h("strong", {}, "Warnings"),
        h("ul", {}, warnings.map((w) => h("li", {}, w)))) : null,
    );
  }

  async change(action, button) {
    button.disabled = true;
    this.reasons = [];
    this.refusedAction = action;
    try {
      const campaign = await api.post(`/api/v1/campaigns/${this.campaign.id}/${action}`);
      toast({ activate: "Campaign activated.", pause: "Campaign paused.", resume: "Campaign resumed." }[action]);
      this.campaign = campaign;
      this.onChanged(campaign);
    } catch (e) {
      // A 409 names every reason, joined by "; ".
      this.reasons = e.status === 409 ? e.message.split("; ") : [e.message];
    }
    this.render();
  }
}
