// A campaign's "Schedule & sending" tab: the sending window (time zone, days, from–to), the mailboxes it sends
// from, its daily limit, the rules (stop on reply, on a colleague's reply, wait for validation, send to
// unknown) and bounce protection (threshold, window, minimum sample) → PATCH.
import { api } from "./api.js";
import { field, h, replaceChildren, toast } from "./dom.js";

export const DAYS = [["mon", "Mon"], ["tue", "Tue"], ["wed", "Wed"], ["thu", "Thu"], ["fri", "Fri"], ["sat", "Sat"], ["sun", "Sun"]];
const DEFAULT_SCHEDULE = { timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", days: ["mon", "tue", "wed", "thu", "fri"], from: "09:00", to: "17:00" };
const RULES = [
  ["stop_on_reply", "Stop a lead's sequence when the lead replies"],
  ["stop_on_company_reply", "Also stop every lead of the same company domain when one of them replies (not for free-mail domains)"],
  ["wait_for_validation", "Wait for the address to be verified before the first email"],
  ["send_to_unknown", "Also send to addresses the verification could not confirm (Unknown)"],
];
// Which control a refusal is about: "schedule.timezone: …" → the time zone field.
const FIELD_OF = { "schedule.timezone": "schedule-timezone", "schedule.days": "schedule-days", "schedule.from": "schedule-from", "schedule.to": "schedule-to", daily_limit: "daily-limit", mailbox_ids: "campaign-mailboxes", "bounce_protection.threshold_percent": "bp-threshold", "bounce_protection.window": "bp-window", "bounce_protection.min_sample": "bp-sample" };
const BOUNCE_DEFAULTS = { enabled: true, threshold_percent: 5, window: 100, min_sample: 20 };

export class SettingsTab {
  constructor(campaign, onSaved) {
    this.campaign = campaign;
    this.onSaved = onSaved;
    this.element = h("form", { class: "settings", id: "settings-form", "aria-label": "Schedule and sending", onsubmit: (e) => { e.preventDefault(); this.submit(); } });
  }

  async load() {
    let mailboxes = [];
    let problem = null;
    try {
      mailboxes = (await api.get("/api/v1/mailboxes", { limit: 100 })).items;
    } catch (e) { problem = e.message; }
    this.build(mailboxes, problem);
  }

  build(mailboxes, problem) {
    const { settings } = this.campaign;
    const schedule = settings.schedule ?? DEFAULT_SCHEDULE;
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    this.anyTime = h("input", { type: "checkbox", id: "schedule-any", checked: settings.schedule === null, onchange: () => { windowBox.hidden = this.anyTime.checked; } });
    this.timezone = h("input", { type: "text", id: "schedule-timezone", list: "timezones", value: schedule.timezone, maxlength: 100, autocomplete: "off" });
    this.days = DAYS.map(([value, text]) => h("label", { class: "day" }, h("input", { type: "checkbox", value, checked: schedule.days.includes(value) }), text));
    this.from = h("input", { type: "text", id: "schedule-from", value: schedule.from, maxlength: 5, inputmode: "numeric", placeholder: "09:00" });
    this.to = h("input", { type: "text", id: "schedule-to", value: schedule.to, maxlength: 5, inputmode: "numeric", placeholder: "17:00" });
    const windowBox = h("div", { hidden: settings.schedule === null },
      h("div", { class: "row" },
        field("schedule-timezone", "Time zone", this.timezone, "grow"),
        field("schedule-from", "From", this.from, "narrow"),
        field("schedule-to", "To (24:00 = end of day)", this.to, "narrow")),
      h("fieldset", { class: "days", id: "schedule-days" }, h("legend", {}, "Days"), this.days),
      h("datalist", { id: "timezones" }, zones.map((z) => h("option", { value: z }))));
    this.mailboxes = mailboxes.map((m) => h("label", { class: "choice" },
      h("input", { type: "checkbox", value: m.id, checked: settings.mailbox_ids.includes(m.id) }), `${m.name} <${m.email}>`));
    const unknownIds = settings.mailbox_ids.filter((id) => !mailboxes.some((m) => m.id === id));
    this.limit = h("input", { type: "number", id: "daily-limit", min: 1, max: 1000000, value: settings.daily_limit ?? "", placeholder: "no limit" });
    this.rules = Object.fromEntries(RULES.map(([key]) => [key, h("input", { type: "checkbox", id: `rule-${key}`, checked: settings[key] })]));
    const protection = settings.bounce_protection ?? BOUNCE_DEFAULTS;
    this.protect = h("input", { type: "checkbox", id: "bp-enabled", checked: protection.enabled });
    this.threshold = h("input", { type: "number", id: "bp-threshold", min: 1, max: 100, value: protection.threshold_percent });
    this.window = h("input", { type: "number", id: "bp-window", min: 10, max: 10000, value: protection.window });
    this.sample = h("input", { type: "number", id: "bp-sample", min: 1, max: 10000, value: protection.min_sample });
    this.errors = h("div", { id: "settings-error", class: "error", role: "alert" });
    replaceChildren(this.element,
      h("section", { class: "panel", "aria-labelledby": "window-heading" },
        h("h2", { id: "window-heading" }, "Sending window"),
        h("p", { class: "choice" }, this.anyTime, h("label", { for: "schedule-any", class: "inline" }, "Any time, any day")),
        windowBox),
      h("section", { class: "panel", "aria-labelledby": "mailboxes-heading" },
        h("h2", { id: "mailboxes-heading" }, "Send from"),
        problem ? h("p", { class: "error" }, problem) : null,
        this.mailboxes.length ? h("fieldset", { class: "mailbox-choices", id: "campaign-mailboxes" }, h("legend", { class: "skip" }, "Mailboxes"), this.mailboxes)
          : h("p", { class: "muted" }, "No mailbox yet: ", h("a", { href: "#/mailboxes" }, "add one"), " to send from."),
        unknownIds.length ? h("p", { class: "muted" }, `${unknownIds.length} chosen mailbox${unknownIds.length === 1 ? " no longer exists" : "es no longer exist"}; saving drops ${unknownIds.length === 1 ? "it" : "them"}.`) : null,
        h("p", { class: "muted" }, "Several mailboxes take turns; a follow-up goes from the mailbox that started the thread.")),
      h("section", { class: "panel", "aria-labelledby": "limits-heading" },
        h("h2", { id: "limits-heading" }, "Limits and rules"),
        field("daily-limit", "Campaign daily limit (emails a day; empty: none)", this.limit, "narrow"),
        RULES.map(([key, text]) => h("p", { class: "choice" }, this.rules[key], h("label", { for: `rule-${key}`, class: "inline" }, text)))),
      h("section", { class: "panel", "aria-labelledby": "bounce-heading" },
        h("h2", { id: "bounce-heading" }, "Bounce protection"),
        h("p", { class: "choice" }, this.protect, h("label", { for: "bp-enabled", class: "inline" }, "Pause the campaign when too many sends bounce")),
        h("div", { class: "row" },
          field("bp-threshold", "Bounce rate limit (%)", this.threshold, "narrow"),
          field("bp-window", "Over the last … sends", this.window, "narrow"),
          field("bp-sample", "Judged from … sends on", this.sample, "narrow")),
        h("p", { class: "muted" }, "Counted per campaign and per mailbox: hard bounces and policy blocks (5.7.x). A paused campaign waits for you to resume it.")),
      this.errors,
      h("p", {}, h("button", { type: "submit", class: "primary", id: "save-settings" }, "Save settings")),
    );
  }

  body() {
    const limit = this.limit.value.trim();
    return {
      schedule: this.anyTime.checked ? null : {
        timezone: this.timezone.value.trim(),
        days: this.days.map((l) => l.querySelector("input")).filter((b) => b.checked).map((b) => b.value),
        from: this.from.value.trim(),
        to: this.to.value.trim(),
      },
      mailbox_ids: this.mailboxes.map((l) => l.querySelector("input")).filter((b) => b.checked).map((b) => b.value),
      daily_limit: limit === "" ? null : Number(limit),
      ...Object.fromEntries(RULES.map(([key]) => [key, this.rules[key].checked])),
      bounce_protection: {
        enabled: this.protect.checked,
        threshold_percent: Number(this.threshold.value),
        window: Number(this.window.value),
        min_sample: Number(this.sample.value),
      },
    };
  }

  async submit() {
    replaceChildren(this.errors);
    for (const el of this.element.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    try {
      const campaign = await api.patch(`/api/v1/campaigns/${this.campaign.id}`, this.body());
      this.campaign = campaign;
      toast("Settings saved.");
      this.onSaved(campaign);
    } catch (e) {
      const reasons = e.status === 422 && e.issues.length
        ? e.issues.flatMap((i) => (i.loc?.[0] === "body" ? [`${i.loc.slice(1).join(".")}: ${i.msg}`] : String(i.msg).split("; ")))
        : [e.message];
      for (const reason of reasons) {
        const id = FIELD_OF[reason.split(":")[0]];
        if (id) document.getElementById(id)?.setAttribute("aria-invalid", "true");
      }
      replaceChildren(this.errors, h("ul", {}, reasons.map((r) => h("li", {}, r))));
    }
  }
}
