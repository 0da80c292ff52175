// A lead's timeline in words: each event type says what happened; ids and raw values wait behind "Details".
import { absoluteTime, h, number, relativeTime } from "./dom.js";
import { label, reasonSentence } from "./statuses.js";

const quoted = (text) => `“${text}”`;
const stepOf = (s) => (s.step && s.total_steps ? `step ${s.step} of ${s.total_steps}` : "a step");
const bulk = (s) => (s.job_id ? " (bulk change)" : "");

function verdict(s) {
  const first = { valid: "Verified", invalid: "Invalid address", unknown: "Could not be verified" }[s.verdict] ?? "Checked";
  const title = s.run > 0 ? "Re-verified" : first;
  const tags = [
    s.role ? "Role address (a team or function, not a person)" : null,
    s.disposable ? "Disposable-address provider" : null,
    s.catch_all && s.reason !== "catch_all" ? "Catch-all domain" : null,
  ];
  return { title, text: reasonSentence(s.reason), tags };
}

const INBOUND_KIND = { hard_bounce: "hard bounce", soft_bounce: "soft bounce", delayed: "delayed delivery", auto_reply: "automatic reply", reply: "reply", challenge: "challenge" };
const BOUNCE_SOURCE = { smtp: "the receiving server refused it while sending", dsn: "a delivery-failure notice came back" };
const SEND_FAILURE = {
  suppressed: "the address is on the suppression list",
  rejected: "the mail server refused the message",
  expired: "the mail server could not be reached for too long, so the mailer gave up",
};
const UNSUBSCRIBED = {
  link: "with the link in an email",
  one_click: "with the one-click button of their mail app",
  reply: "by asking in a reply",
  manual: "by hand",
};

/** What one timeline entry says: a title, a sentence, flags; `summary` keeps every raw value for Details. */
export function describe(entry) {
  const s = entry.summary && typeof entry.summary === "object" ? entry.summary : {};
  switch (entry.type) {
    case "lead_imported":
      return { title: "Imported", text: s.row ? `from row ${number(s.row)} of its import` : "" };
    case "lead_validated":
    case "leads_validated":
      return verdict(s);
    case "step_due":
      return { title: "Step due", text: `${stepOf(s)}${s.due_at ? `, due ${absoluteTime(s.due_at)}` : ""}` };
    case "email_sent":
      return { title: "Email sent", text: `${stepOf(s)}${s.mailbox ? ` from ${s.mailbox}` : ""}` };
    case "send_uncertain":
      return { title: "Send uncertain", text: `${stepOf(s)}: the mailer cannot tell whether the server took it (it stopped between sending and recording the answer), so it is never sent again by itself` };
    case "send_failed":
      return {
        title: "Not sent",
        text: `${stepOf(s)}: ${SEND_FAILURE[s.reason] ?? "the mailer gave up"}${s.smtp_code ? ` (SMTP ${s.smtp_code})` : ""} — the sequence stops here`,
        quote: s.detail,
      };
    case "step_not_sendable":
      return { title: "Not sendable", text: `${stepOf(s)} needs ${(s.missing ?? []).join(", ") || "a variable"}, which this lead has no value for — not sent` };
    case "email_bounced":
      return {
        title: s.kind === "soft" ? "Soft bounce" : "Bounced",
        text: (s.kind === "soft" ? "a temporary delivery problem: " : "the address does not take mail: ")
          + (BOUNCE_SOURCE[s.source] ?? "the message came back")
          + (s.smtp_code ? ` (SMTP ${s.smtp_code})` : ""),
      };
    case "reply_detected":
      return { title: "Replied", text: replyText(s), quote: s.snippet };
    case "auto_reply_detected":
      return {
        title: "Automatic reply",
        text: `${replyText(s)} — an out-of-office or similar, not counted as a reply`
          + (s.return_date ? `; back on ${s.return_date}, the next step waits until after it` : ""),
        quote: s.snippet,
      };
    case "inbound_reclassified":
      return {
        title: "Decision overturned",
        text: `${INBOUND_KIND[s.from_kind] ?? s.from_kind} → ${INBOUND_KIND[s.to_kind] ?? s.to_kind}, by ${s.by ?? "someone"}`
          + (s.undoes ? ` — no longer ${label(String(s.undoes))}` : ""),
      };
    case "sequence_stopped":
      return { title: "Sequence stopped", text: `someone else at ${s.domain ?? "the same company"} replied` };
    case "lead_unsubscribed":
      return { title: "Unsubscribed", text: UNSUBSCRIBED[s.source] ?? "" };
    case "lead_completed":
      return { title: "Sequence completed", text: s.total_steps ? `all ${s.total_steps} steps sent` : "" };
    case "lead_status_changed":
      return {
        title: `Status set to ${label(String(s.status ?? "unknown"))}`,
        text: `by ${s.changed_by ?? "someone"}${bulk(s)}${s.reason ? ` — ${quoted(s.reason)}` : ""}`,
      };
    case "leads_removed":
      return { title: "Removed from the campaign", text: `by ${s.removed_by ?? "someone"}${bulk(s)}` };
    default:
      return { title: label(String(entry.type).replaceAll("_", " ")), text: "" };
  }
}

function replyText(s) {
  const subject = s.subject ?? s.subject_line;
  return [s.from_address ? `from ${s.from_address}` : "", subject ? quoted(subject) : ""].filter(Boolean).join(": ");
}

/** Every raw value of the entry (ids, codes, flags), shown only when its "Details" is opened. */
function details(entry) {
  const s = entry.summary && typeof entry.summary === "object" ? entry.summary : {};
  const rows = Object.entries(s)
    .filter(([, value]) => value !== null && value !== "" && typeof value !== "object")
    .map(([key, value]) => [key.replaceAll("_", " "), String(value)]);
  rows.push(["event", entry.type], ["recorded", absoluteTime(entry.at)]);
  if (entry.source) rows.push(["source", entry.source]);
  return h("details", { class: "raw" }, h("summary", {}, "Details"),
    h("dl", {}, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])));
}

export function timeline(entries) {
  if (!Array.isArray(entries)) return h("p", { class: "muted" }, "This server does not report a timeline yet.");
  if (!entries.length) return h("p", { class: "muted" }, "Nothing has happened to this lead yet.");
  return h("ol", { class: "timeline", "aria-label": "Timeline" }, entries.map((entry) => {
    const { title, text, tags = [], quote } = describe(entry);
    return h("li", { dataset: { type: entry.type } },
      h("p", { class: "what" }, h("strong", {}, title), text ? `: ${text}` : ""),
      quote ? h("blockquote", {}, quote) : null,
      tags.some(Boolean) ? h("p", { class: "tags" }, tags.filter(Boolean).map((t) => h("span", { class: "tag" }, t))) : null,
      h("div", { class: "when" }, h("time", { datetime: entry.at, title: absoluteTime(entry.at) }, relativeTime(entry.at))),
      details(entry),
    );
  }));
}
