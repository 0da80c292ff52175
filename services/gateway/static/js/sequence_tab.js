// A campaign's Sequence tab: the step editor (subject, body, delay; add, remove, reorder), the variables to
// insert, saving (every refusal shown next to its step), the progress by step, and a preview for a lead.
import { api, notOffered } from "./api.js";
import { field, h, number, replaceChildren, toast } from "./dom.js";

// The imported fields a template may name (services/sequencer/templates.py FIELDS); `custom.<column>` too.
export const FIELDS = ["first_name", "last_name", "company_name", "email", "phone", "website", "city", "industry"];
const UNITS = [["days", 1440], ["hours", 60], ["minutes", 1]];
const COUNTS = [["sent", "Sent"], ["due", "Due"], ["waiting", "Waiting"], ["uncertain", "Uncertain"], ["not_sendable", "Not sendable"], ["failed", "Failed"]];
// One refusal of the sequencer: "step 2, subject: unknown variable 'x' … (variable 'x')"; "steps, …" is about all.
const STEP_REASON = /^step (\d+), (\w+): (.*)$/s;

const capitalized = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** The largest unit that divides `minutes` evenly, and the count of it. */
export function splitDelay(minutes) {
  for (const [unit, size] of UNITS) if (minutes > 0 && minutes % size === 0) return [minutes / size, unit];
  return [minutes, "minutes"];
}

/** A 422's problems by step number (0: the sequence as a whole), each "field: message". */
export function errorsByStep(error) {
  const found = new Map();
  const add = (step, text) => found.set(step, [...(found.get(step) ?? []), text]);
  const issues = error.issues?.length ? error.issues : [{ loc: ["request"], msg: error.message }];
  for (const issue of issues) {
    const loc = Array.isArray(issue.loc) ? issue.loc : [];
    if (loc[0] === "body" && loc[1] === "steps" && Number.isInteger(loc[2])) {
      add(loc[2] + 1, `${loc.slice(3).join(".") || "step"}: ${issue.msg}`);
      continue;
    }
    for (const part of String(issue.msg).split(/; (?=step \d+, |steps, )/)) {
      const match = part.match(STEP_REASON);
      if (match) add(Number(match[1]), `${match[2]}: ${match[3]}`);
      else add(0, part.replace(/^steps, /, ""));
    }
  }
  return found;
}

export class SequenceTab {
  constructor(campaign, onSaved) {
    this.campaign = campaign;
    this.onSaved = onSaved;
    this.steps = campaign.steps.map((s) => ({ ...s }));
    if (!this.steps.length) this.steps.push({ subject: "", body: "", delay_minutes: 0 });
    this.errors = new Map();
    this.custom = [];
    this.lastField = null;
    this.editor = h("ol", { class: "steps", id: "steps", "aria-label": "Steps" });
    this.general = h("div", { id: "sequence-error", role: "alert", class: "error" });
    this.variables = h("div", { class: "variables", id: "variables" });
    this.counts = h("div", { id: "step-counts-box" });
    this.preview = new Preview(campaign.id, () => this.steps, (custom) => { this.custom = custom; this.renderVariables(); });
    this.save = h("button", { type: "button", class: "primary", id: "save-sequence", onclick: () => this.submit() }, "Save sequence");
    this.element = h("div", { class: "sequence-layout" },
      h("section", { "aria-labelledby": "steps-heading", class: "sequence-main" },
        h("h2", { id: "steps-heading" }, "Steps"),
        this.counts,
        this.editor,
        h("div", { class: "actions" },
          h("button", { type: "button", id: "add-step", onclick: () => this.addStep() }, "Add step"),
          this.save),
        this.general),
      h("aside", { class: "sequence-side" }, this.variables, this.preview.element));
    this.render();
  }

  render() {
    replaceChildren(this.editor, this.steps.map((step, i) => this.stepCard(step, i)));
    const general = this.errors.get(0) ?? [];
    replaceChildren(this.general, general.length ? h("ul", {}, general.map((m) => h("li", {}, m))) : null);
    this.renderVariables();
    this.renderCounts();
  }

  renderCounts() {
    const counts = this.campaign.step_counts ?? [];
    if (!counts.length) { replaceChildren(this.counts); return; }
    replaceChildren(this.counts, h("div", { class: "table-wrap counts" }, h("table", { id: "step-counts" },
      h("caption", {}, "Leads by step"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Step"), COUNTS.map(([, t]) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, counts.map((c) => h("tr", { dataset: { step: c.step } }, h("th", { scope: "row" }, `Step ${c.step}`),
        COUNTS.map(([key]) => h("td", { dataset: { count: key } }, number(c[key])))))))));
  }

  renderVariables() {
    const names = [...FIELDS, ...this.custom.map((c) => `custom.${c}`)];
    replaceChildren(this.variables,
      h("h2", {}, "Variables"),
      h("p", { class: "muted" }, "Click one to insert it where the cursor is. A lead without a value is not sent that step unless the variable has a fallback: ", h("code", {}, "{{first_name|there}}"), "."),
      h("ul", { class: "chips", "aria-label": "Variables" }, names.map((name) => h("li", {},
        h("button", { type: "button", class: "chip", onmousedown: (e) => e.preventDefault(), onclick: () => this.insert(`{{${name}}}`) }, `{{${name}}}`)))),
      this.custom.length ? null : h("p", { class: "muted small" }, "Columns of your own appear here as custom.<column> once a lead is chosen for the preview."));
  }

  insert(text) {
    const target = this.lastField && document.contains(this.lastField) ? this.lastField : this.editor.querySelector("textarea");
    if (!target) return;
    const start = target.selectionStart ?? target.value.length;
    const end = target.selectionEnd ?? start;
    target.setRangeText(text, start, end, "end");
    target.dispatchEvent(new Event("input"));
    target.focus();
  }

  stepCard(step, i) {
    const n = i + 1;
    const id = (name) => `step-${n}-${name}`;
    const errors = this.errors.get(n) ?? [];
    const errorsId = id("errors");
    const remember = (e) => { this.lastField = e.target; };
    const subject = h("input", { type: "text", id: id("subject"), maxlength: 2000, value: step.subject, placeholder: n === 1 ? "Quick question, {{first_name|there}}" : "Empty: a reply in step 1's thread (Re: …)", "aria-describedby": errors.length ? errorsId : null, "aria-invalid": errors.some((e) => e.startsWith("subject")) ? "true" : null, oninput: (e) => { step.subject = e.target.value; }, onfocus: remember });
    const body = h("textarea", { id: id("body"), rows: 6, "aria-describedby": errors.length ? errorsId : null, "aria-invalid": errors.some((e) => e.startsWith("body")) ? "true" : null, oninput: (e) => { step.body = e.target.value; }, onfocus: remember });
    body.value = step.body;
    const [amount, unit] = splitDelay(step.delay_minutes);
    const delay = h("input", { type: "number", id: id("delay"), min: 0, value: amount, oninput: () => sync() });
    const units = h("select", { id: id("unit"), "aria-label": `Step ${n} delay unit`, onchange: () => sync() }, UNITS.map(([u]) => h("option", { value: u, selected: u === unit }, u)));
    const sync = () => { step.delay_minutes = Math.max(0, Math.round(Number(delay.value) || 0)) * Object.fromEntries(UNITS)[units.value]; };
    const move = (to) => { const [moved] = this.steps.splice(i, 1); this.steps.splice(to, 0, moved); this.errors = new Map(); this.render(); this.editor.querySelector(`#step-${to + 1}-subject`)?.focus(); };
    return h("li", { class: "panel step", dataset: { step: n } },
      h("div", { class: "step-head" },
        h("h3", {}, `Step ${n}`),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "link", disabled: i === 0, "aria-label": `Move step ${n} up`, onclick: () => move(i - 1) }, "Move up"),
          h("button", { type: "button", class: "link", disabled: i === this.steps.length - 1, "aria-label": `Move step ${n} down`, onclick: () => move(i + 1) }, "Move down"),
          h("button", { type: "button", class: "link", disabled: this.steps.length === 1, "aria-label": `Remove step ${n}`, onclick: () => { this.steps.splice(i, 1); this.errors = new Map(); this.render(); } }, "Remove"))),
      field(id("delay"), n === 1 ? "Send after (from when the lead can be sent)" : "Send after (from the previous step)",
        h("div", { class: "pair" }, delay, units), "delay"),
      field(id("subject"), "Subject", subject),
      field(id("body"), "Body", body),
      errors.length ? h("ul", { class: "step-errors error", id: errorsId, role: "alert" }, errors.map((m) => h("li", {}, capitalized(m)))) : null,
    );
  }

  addStep() {
    this.steps.push({ subject: "", body: "", delay_minutes: 2 * 1440 });
    this.render();
    this.editor.querySelector(`#step-${this.steps.length}-body`)?.focus();
  }

  async submit() {
    this.save.disabled = true;
    try {
      const campaign = await api.put(`/api/v1/campaigns/${this.campaign.id}/sequence`, { steps: this.steps });
      this.errors = new Map();
      this.campaign = campaign;
      toast("Sequence saved.");
      this.onSaved(campaign);
    } catch (e) {
      this.errors = e.status === 422 ? errorsByStep(e) : new Map([[0, [e.message]]]);
    }
    this.save.disabled = false;
    this.render();
    this.editor.querySelector(".step-errors")?.closest("li").scrollIntoView({ block: "start" });
  }
}

/** The preview: the steps as being edited, rendered for one lead of the campaign. */
class Preview {
  constructor(campaignId, steps, onCustom) {
    this.campaignId = campaignId;
    this.steps = steps;
    this.onCustom = onCustom;
    let typing;
    this.search = h("input", { type: "search", id: "preview-search", placeholder: "Email or name", oninput: () => { clearTimeout(typing); typing = setTimeout(() => this.loadLeads(), 300); } });
    this.lead = h("select", { id: "preview-lead", onchange: () => this.leadChosen() });
    this.result = h("div", { id: "preview-result", "aria-live": "polite" });
    this.element = h("section", { class: "panel preview", "aria-labelledby": "preview-heading" },
      h("h2", { id: "preview-heading" }, "Preview"),
      field("preview-search", "Find a lead", this.search),
      field("preview-lead", "Lead", this.lead),
      h("p", {}, h("button", { type: "button", id: "preview-button", onclick: () => this.show() }, "Preview for this lead")),
      this.result);
    this.loadLeads();
  }

  async loadLeads() {
    let page;
    try {
      page = await api.get(`/api/v1/campaigns/${this.campaignId}/leads`, { q: this.search.value.trim(), limit: 50, sort: "email" });
    } catch (e) {
      replaceChildren(this.result, h("p", { class: "error" }, e.message));
      return;
    }
    replaceChildren(this.lead, page.items.length ? page.items.map((l) => h("option", { value: l.id }, [l.email, l.company_name].filter(Boolean).join(" · ")))
      : h("option", { value: "" }, this.search.value ? "No lead matches" : "No leads yet"));
    this.leadChosen();
  }

  async leadChosen() {
    if (!this.lead.value) return;
    try {
      const lead = await api.get(`/api/v1/leads/${this.lead.value}`);
      this.onCustom(Object.keys(lead.custom ?? {}).sort());
    } catch { /* the variables list keeps the standard fields */ }
  }

  async show() {
    if (!this.lead.value) { replaceChildren(this.result, h("p", { class: "muted" }, "Choose a lead first.")); return; }
    let preview;
    try {
      preview = await api.post(`/api/v1/campaigns/${this.campaignId}/preview`, { lead_id: this.lead.value, steps: this.steps() });
    } catch (e) {
      replaceChildren(this.result, h("p", { class: "error", role: "alert" }, notOffered(e) ? "Previews are not available on this server yet." : e.message));
      return;
    }
    replaceChildren(this.result, h("ol", { class: "previewed" }, preview.steps.map((s) => h("li", { dataset: { step: s.step } },
      h("h3", {}, `Step ${s.step}`),
      s.errors.length ? h("ul", { class: "error" }, s.errors.map((m) => h("li", {}, m))) : null,
      s.missing.length ? h("p", { class: "banner warn" }, `Not sent to this lead: no value for ${s.missing.join(", ")}. Give the variable a fallback, e.g. {{${s.missing[0]}|…}}.`) : null,
      h("p", { class: "preview-subject" }, h("span", { class: "muted" }, "Subject: "), s.subject || "—"),
      h("pre", { class: "mail-text" }, s.body)))));
  }
}
