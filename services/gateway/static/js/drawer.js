// The lead detail drawer: the lead's fields and its timeline (in words, see timeline.js).
import { api } from "./api.js";
import { absoluteTime, h, relativeTime, replaceChildren } from "./dom.js";
import { openDialog } from "./modal.js";
import { nextSendText, reasonLabel, statusBadge, stepText, validationBadge } from "./statuses.js";
import { timeline } from "./timeline.js";

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
    ["Sequence", stepText(lead)], ["Next send", nextSendText(lead) ? `${nextSendText(lead)} (${absoluteTime(lead.next_step_at)})` : null],
    ["Validation", validationBadge(lead.validation, lead.validation_reason)],
    ["Reason", lead.validation_reason ? reasonLabel(lead.validation_reason) : null], ["Phone", lead.phone], ["Website", lead.website], ["City", lead.city],
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
