// The validation summary above the leads table: counts, the validator's health in words, and "Re-verify".
import { api, ApiError } from "./api.js";
import { h, number, progressBar, replaceChildren, toast } from "./dom.js";
import { openDialog } from "./modal.js";
import { reasonLabel } from "./statuses.js";

export class ValidationSummary {
  constructor(campaignId, onRerun) {
    this.campaignId = campaignId;
    this.onRerun = onRerun;
    this.summary = null;
    this.bannerKey = null;
    this.statsKey = null;
    this.reverify = h("button", { type: "button", id: "reverify", onclick: () => this.openReverify() }, "Re-verify…");
    this.banner = h("div", { class: "banner-slot" });
    this.stats = h("div");
    this.element = h("section", { class: "panel", "aria-label": "Email validation" },
      h("div", { class: "panel-head" }, h("h2", {}, "Email validation"), this.reverify),
      this.banner, this.stats);
  }

  get path() { return `/api/v1/campaigns/${this.campaignId}/validation`; }

  async refresh() {
    let s;
    try {
      s = await api.get(this.path);
    } catch {
      this.bannerKey = this.statsKey = null;
      replaceChildren(this.banner);
      replaceChildren(this.stats, h("p", { class: "muted" }, "The validation summary is not available."));
      return;
    }
    this.summary = s;
    // Only leads with a result can be checked again; those still waiting get theirs anyway.
    this.reverify.disabled = s.validated === 0;
    this.reverify.title = s.validated === 0 ? "No lead has a result yet" : "";
    // Only what changed is rebuilt: a banner re-announces itself to screen readers when it is replaced.
    const bannerKey = JSON.stringify([s.validator.state, s.validator.reason ?? null]);
    if (bannerKey !== this.bannerKey) {
      this.bannerKey = bannerKey;
      replaceChildren(this.banner, validatorBanner(s.validator));
    }
    const statsKey = JSON.stringify([s.total, s.validated, s.in_progress, s.valid, s.invalid, s.unknown, s.percent, s.validator.queued, s.validator.held]);
    if (statsKey !== this.statsKey) {
      this.statsKey = statsKey;
      replaceChildren(this.stats, statsOf(s));
    }
  }

  openReverify() {
    const s = this.summary;
    if (!s) return;
    const reasons = Object.entries(s.reasons ?? {}).sort(([, a], [, b]) => b - a);
    const every = h("input", { type: "radio", name: "reverify-scope", id: "reverify-all", value: "all", checked: true });
    const some = h("input", { type: "radio", name: "reverify-scope", id: "reverify-some", value: "some", disabled: !reasons.length });
    const boxes = reasons.map(([code, n]) => {
      const box = h("input", { type: "checkbox", value: code, id: `reverify-${code}`, onchange: () => { some.checked = true; } });
      return [box, h("li", {}, box, h("label", { for: box.id }, `${reasonLabel(code)} (${number(n)})`))];
    });
    const error = h("p", { class: "error", role: "alert" });
    const body = h("div", { id: "reverify-form" },
      h("p", {}, "The validator checks these addresses again, e.g. after its resolver was fixed. A lead marked Invalid only by its earlier result goes back to Pending if the new check finds it valid or unknown; the timeline keeps both results. Leads still waiting for a check are not queued twice."),
      h("div", { class: "choice" }, every, h("label", { for: every.id }, `Every lead with a result (${number(s.validated)})`)),
      h("div", { class: "choice" }, some, h("label", { for: some.id }, "Only leads whose last check ended with:")),
      reasons.length ? h("ul", { class: "choices", "aria-label": "Results to re-verify" }, boxes.map(([, item]) => item)) : null,
      error,
    );
    const go = h("button", { type: "button", class: "primary", id: "reverify-start" }, "Re-verify");
    const cancel = h("button", { type: "button" }, "Cancel");
    const dialog = openDialog({ title: "Re-verify addresses", body, footer: [cancel, go] });
    cancel.addEventListener("click", () => dialog.close());
    go.addEventListener("click", async () => {
      const chosen = boxes.filter(([box]) => box.checked).map(([box]) => box.value);
      if (some.checked && !chosen.length) { error.textContent = "Tick at least one result, or choose every lead."; return; }
      go.disabled = true;
      let answer;
      try {
        answer = await api.post(`${this.path}/rerun`, some.checked ? { reasons: chosen } : {});
      } catch (e) {
        go.disabled = false;
        error.textContent = e instanceof ApiError && [404, 405].includes(e.status)
          ? "Re-verification is not available on this server yet." : e.message;
        return;
      }
      const queued = answer?.queued ?? 0;
      replaceChildren(body, h("p", { id: "reverify-result" },
        queued ? `${number(queued)} lead${queued === 1 ? "" : "s"} queued for re-verification.` : "No lead matched: nothing to re-verify."));
      replaceChildren(go.parentElement, h("button", { type: "button", class: "primary", onclick: () => dialog.close() }, "Done"));
      toast(`${number(queued)} queued for re-verification`);
      this.onRerun();
    });
    cancel.focus();
  }
}

function validatorBanner(v) {
  if (v.state === "degraded") {
    const why = v.reason ? capitalised(v.reason) : "The validator's own checks look blocked";
    return h("div", { class: "banner warn", role: "alert", id: "validator-banner", dataset: { state: "degraded" } },
      h("strong", {}, "Verification is paused. "), `${why}. `,
      "Leads wait instead of getting a verdict, and are verified once it recovers.");
  }
  if (v.state === "unavailable") {
    return h("div", { class: "banner info", id: "validator-banner", dataset: { state: "unavailable" } },
      h("strong", {}, "The validator is not answering. "), "The counts below are current; verification resumes when it is back.");
  }
  return null;
}

const capitalised = (text) => String(text).charAt(0).toUpperCase() + String(text).slice(1);

function statsOf(s) {
  const stat = (label, value) => h("span", { class: "stat" }, h("b", {}, number(value)), label);
  if (s.total === 0) {
    // No leads, nothing validated: a percentage (or a full bar) would claim work that never happened.
    return h("div", { class: "summary", id: "validation-summary" },
      stat("leads", 0), h("span", { class: "muted" }, "Every lead is verified in the background as soon as it arrives."));
  }
  const bar = progressBar("Validated");
  bar.set(s.percent);
  return [
    h("div", { class: "summary", id: "validation-summary" },
      h("span", { class: "stat" }, h("b", {}, `${s.percent}%`), "validated"),
      stat("leads", s.total), stat("in progress", s.in_progress), stat("valid", s.valid), stat("invalid", s.invalid), stat("unknown", s.unknown),
      s.validator.queued != null ? stat("queued", s.validator.queued) : null,
      s.validator.held ? stat("held", s.validator.held) : null,
    ),
    bar,
  ];
}
