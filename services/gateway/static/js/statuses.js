// The seven lead statuses (contracts/_status.py) and the validation verdicts, with their badges.
import { h } from "./dom.js";

export const STATUSES = ["pending", "contacted", "replied", "bounced", "unsubscribed", "completed", "invalid"];
export const VALIDATIONS = ["pending", "valid", "invalid", "unknown"];

const label = (value) => value.charAt(0).toUpperCase() + value.slice(1);

export const statusBadge = (status) => h("span", { class: `badge status-${status}` }, label(status));

export function validationBadge(validation, reason) {
  const title = reason ? `${label(validation)}: ${reason.replaceAll("_", " ")}` : label(validation);
  return h("span", { class: `badge validation-${validation}`, title, "aria-label": `Validation ${title}` }, label(validation));
}

export const stepText = (lead) => (lead.total_steps ? `Step ${lead.step} of ${lead.total_steps}` : "—");
