// The seven lead statuses (contracts/_status.py), the validation verdicts and the validator's reason codes
// (services/validator/domain.py `Reason`) in words, with their badges.
import { absoluteTime, h, untilTime } from "./dom.js";

export const STATUSES = ["pending", "contacted", "replied", "bounced", "unsubscribed", "completed", "invalid"];
export const VALIDATIONS = ["pending", "valid", "invalid", "unknown"];

export const label = (value) => value.charAt(0).toUpperCase() + value.slice(1);

const INVALID = " — marked Invalid";
const UNKNOWN = " — will be shown as Unknown";

/** Every reason code: a short label (filters, badges, the summary) and what it means for the lead. */
export const REASONS = {
  accepted: ["Accepted", "the mail server accepted the address"],
  invalid_syntax: ["Not an address", `the address is not well-formed${INVALID}`],
  no_such_domain: ["Domain does not exist", `the domain does not exist${INVALID}`],
  null_mx: ["Domain takes no mail", `the domain declares that it accepts no mail${INVALID}`],
  no_mail_server: ["No mail server", `the domain has no mail server${INVALID}`],
  mailbox_not_found: ["Mailbox not found", `the mail server says this mailbox does not exist${INVALID}`],
  mailbox_full: ["Mailbox full", `the mailbox is full${INVALID}`],
  catch_all: ["Catch-all domain", `the domain accepts any address, so this one cannot be confirmed${UNKNOWN}`],
  policy_block: ["Check refused", `the mail server refused our check (a block aimed at the checker, not at the address)${UNKNOWN}`],
  greylisted: ["Greylisted", `the mail server kept asking us to try again later (greylisting)${UNKNOWN}`],
  temporary_failure: ["Temporary failure", `the mail server reported a temporary failure${UNKNOWN}`],
  smtp_rejected: ["Refused without a reason", `the mail server refused the address without saying why${UNKNOWN}`],
  dns_timeout: ["DNS timed out", `DNS lookup timed out${UNKNOWN}`],
  dns_error: ["DNS error", `the DNS lookup failed${UNKNOWN}`],
  mx_unreachable: ["Mail server unreachable", `none of the domain's mail servers could be reached${UNKNOWN}`],
  smtp_timeout: ["Mail server timed out", `the mail server did not answer in time${UNKNOWN}`],
  prober_blocked: ["Held: checks blocked", "our checks looked blocked, so the lead waits for a later pass"],
  dns_unhealthy: ["Held: DNS broken", "our DNS resolver looked broken, so the lead waits for a later pass"],
};

const words = (code) => String(code).replaceAll("_", " ");

export const reasonLabel = (code) => REASONS[code]?.[0] ?? label(words(code));
export const reasonSentence = (code) => REASONS[code]?.[1] ?? `reason: ${words(code)}`;

export const statusBadge = (status) => h("span", { class: `badge status-${status}` }, label(status));

export function validationBadge(validation, reason) {
  const title = reason ? `${label(validation)}: ${reasonLabel(reason)}` : label(validation);
  return h("span", { class: `badge validation-${validation}`, title, "aria-label": `Validation ${title}` }, label(validation));
}

/** "Step 2 of 3" (the API's `sequence` where it says it), "—" while the campaign has no steps. */
export const stepText = (lead) => lead.sequence ?? (lead.total_steps ? `Step ${lead.step} of ${lead.total_steps}` : "—");

/** When the lead's next step is due: "Next: step 3 in 5 h" ("due now" once it is), null when none is. */
export function nextSendText(lead) {
  if (!lead.next_step_at) return null;
  const when = untilTime(lead.next_step_at);
  return `Next: ${lead.next_step ? `step ${lead.next_step} ` : ""}${when === "now" ? "due now" : when}`;
}

/** The leads table's Sequence cell: the step sent last, and when the next is due (the exact time on hover). */
export function sequenceCell(lead) {
  const next = nextSendText(lead);
  return [
    h("span", { class: "step" }, stepText(lead)),
    next ? h("time", { class: "next-send", datetime: lead.next_step_at, title: `Next send ${absoluteTime(lead.next_step_at)}` }, next) : null,
  ];
}
