// The lead detail drawer: the lead's fields and its timeline.
import { api } from "./api.js";
import { absoluteTime, h, relativeTime, replaceChildren } from "./dom.js";
import { openDialog } from "./modal.js";
import { statusBadge, stepText, validationBadge } from "./statuses.js";

export async function openLeadDrawer(leadId) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const dialog = openDialog({ title: "Lead", body, className: "drawer" });
  dialog.id = "lead-drawer";
  let lead;
  try {
    lead = await api.get(`/api/v1/leads/${leadId}`);
  } catch (e) {
    replaceChildren(body, h("p", { class: "error" }, e.message));
    return;
  }
  dialog.querySelector("h2").textContent = lead.email;
  const name = [lead.first_name, lead.last_name].filter(Boolean).join(" ");
  const fields = [
    ["Name", name], ["Company", lead.company_name], ["Status", statusBadge(lead.status)],
    ["Sequence", stepText(lead)], ["Validation", validationBadge(lead.validation, lead.validation_reason)],
    ["Reason", lead.validation_reason], ["Phone", lead.phone], ["Website", lead.website], ["City", lead.city],
    ["Industry", lead.industry], ["Added", absoluteTime(lead.created_at)],
    ["Last activity", lead.last_activity_at ? `${relativeTime(lead.last_activity_at)} (${absoluteTime(lead.last_activity_at)})` : null],
    ...Object.entries(lead.custom ?? {}),
  ].filter(([, value]) => value);
  replaceChildren(body,
    h("dl", { class: "fields" }, fields.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    h("h3", {}, "Timeline"),
    timeline(lead.timeline),
  );
}

function timeline(entries) {
  if (!Array.isArray(entries)) return h("p", { class: "muted" }, "This server does not report a timeline yet.");
  if (!entries.length) return h("p", { class: "muted" }, "Nothing has happened to this lead yet.");
  return h("ol", { class: "timeline", "aria-label": "Timeline" }, entries.map((entry) => h("li", {},
    h("div", {}, h("strong", {}, humanize(entry.type))),
    details(entry.summary) ? h("div", {}, details(entry.summary)) : null,
    h("div", { class: "when" }, h("time", { datetime: entry.at, title: absoluteTime(entry.at) }, relativeTime(entry.at)),
      entry.source ? ` · ${entry.source}` : ""),
  )));
}

const humanize = (type) => { const words = String(type).replaceAll("_", " "); return words.charAt(0).toUpperCase() + words.slice(1); };

/** The event's summary: a text as is, an object as "key: value" pairs of its plain values. */
function details(summary) {
  if (!summary) return "";
  if (typeof summary === "string") return summary;
  return Object.entries(summary)
    .filter(([, value]) => value !== null && value !== "" && typeof value !== "object")
    .map(([key, value]) => `${key.replaceAll("_", " ")}: ${value}`)
    .join(" · ");
}
