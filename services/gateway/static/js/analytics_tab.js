// A campaign's Analytics tab: the totals, emails sent per day and the step funnel (how many leads reached each
// step), the replies, auto-replies, bounces and unsubscribes per day (stacked), drawn by charts.js, and the reply
// and bounce rates per step and per mailbox as tables, from GET /campaigns/{id}/analytics. Each chart's numbers
// are also a table.
import { api, notOffered } from "./api.js";
import { columnChart, fillDays, funnelChart, stackedColumnChart } from "./charts.js";
import { h, number, replaceChildren } from "./dom.js";

const TOTALS = [["sent", "Emails sent"], ["leads", "Leads"], ["completed", "Completed"], ["bounced", "Bounced"], ["unsubscribed", "Unsubscribed"]];
// The answers per day (`outcomes_per_day`), stacked in this order from the bottom; each has its colour (app.css).
const OUTCOMES = [
  { key: "replies", name: "replies", title: "Replies" },
  { key: "auto_replies", name: "auto-replies", title: "Auto-replies" },
  { key: "hard_bounces", name: "hard bounces", title: "Hard bounces" },
  { key: "soft_bounces", name: "soft bounces", title: "Soft bounces" },
  { key: "unsubscribes", name: "unsubscribes", title: "Unsubscribes" },
];
const RATE_HEADERS = ["Sent", "Replies", "Reply rate", "Bounced", "Bounce rate"];

export class AnalyticsTab {
  constructor(campaignId) {
    this.campaignId = campaignId;
    this.element = h("section", { class: "analytics", "aria-label": "Analytics" }, h("p", { class: "muted" }, "Loading…"));
  }

  async load() {
    let data;
    try {
      data = await api.get(`/api/v1/campaigns/${this.campaignId}/analytics`);
    } catch (e) {
      replaceChildren(this.element, h("p", { class: notOffered(e) ? "muted" : "error", role: "alert" },
        notOffered(e) ? "Analytics are not available on this server yet." : e.message));
      return;
    }
    this.render(data);
  }

  render(data) {
    const days = fillDays(data.sent_per_day ?? []);
    const funnel = data.funnel ?? [];
    const first = funnel[0]?.leads ?? 0;
    const share = (n) => (first ? `${Math.round((n / first) * 100)}%` : "—");
    replaceChildren(this.element,
      h("ul", { class: "breakdown", id: "analytics-totals", "aria-label": "Totals" },
        TOTALS.map(([key, text]) => h("li", { dataset: { total: key } }, h("b", {}, number(data.totals?.[key])), text))),
      h("div", { class: "two-up charts" },
        h("figure", { class: "panel", id: "sent-per-day" },
          h("figcaption", {}, h("h2", {}, "Emails sent per day")),
          days.length ? columnChart({
            id: "sent-chart",
            title: "Emails sent per day",
            description: `${days.length} day${days.length === 1 ? "" : "s"} from ${days[0].date} to ${days.at(-1).date} (UTC), at most ${number(Math.max(...days.map((d) => d.sent)))} a day.`,
            items: days.map((d) => ({ label: d.date.slice(5), hint: d.date, value: d.sent })),
            unit: "sent",
          }) : h("p", { class: "muted empty" }, "Nothing sent yet."),
          dataTable("Emails sent per day", ["Day (UTC)", "Sent"], days.map((d) => [d.date, number(d.sent)]))),
        h("figure", { class: "panel", id: "step-funnel" },
          h("figcaption", {}, h("h2", {}, "Leads reaching each step")),
          funnel.length ? funnelChart({
            id: "funnel-chart",
            title: "Leads reaching each step",
            description: funnel.map((f) => `step ${f.step}: ${number(f.leads)}`).join(", "),
            items: funnel.map((f) => ({ label: `Step ${f.step}`, value: f.leads, note: f.step === 1 ? "" : `${share(f.leads)} of step 1` })),
          }) : h("p", { class: "muted empty" }, "The campaign has no steps yet."),
          dataTable("Leads reaching each step", ["Step", "Leads", "Of step 1"], funnel.map((f) => [`Step ${f.step}`, number(f.leads), share(f.leads)])))),
      h("div", { class: "two-up charts" }, outcomesPanel(data.outcomes_per_day ?? []), ratesPanel(data.by_step ?? [], data.by_mailbox ?? [])),
    );
  }
}

function outcomesPanel(outcomes) {
  const days = fillDays(outcomes, OUTCOMES.map((o) => o.key));
  const sums = OUTCOMES.map((o) => `${number(days.reduce((sum, d) => sum + d[o.key], 0))} ${o.name}`).join(", ");
  return h("figure", { class: "panel", id: "outcomes-per-day" },
    h("figcaption", {}, h("h2", {}, "Replies, bounces and unsubscribes per day")),
    days.length ? [
      h("ul", { class: "legend", "aria-hidden": "true" }, OUTCOMES.map((o) => h("li", { class: `series-${o.key}` }, h("span", { class: "swatch" }), o.title))),
      stackedColumnChart({
        id: "outcomes-chart",
        title: "Replies, bounces and unsubscribes per day",
        description: `${days.length} day${days.length === 1 ? "" : "s"} from ${days[0].date} to ${days.at(-1).date} (UTC): ${sums}.`,
        items: days.map((d) => ({ label: d.date.slice(5), hint: d.date, values: d })),
        series: OUTCOMES,
      }),
    ] : h("p", { class: "muted empty" }, "No replies, bounces or unsubscribes yet."),
    dataTable("Replies, bounces and unsubscribes per day", ["Day (UTC)", ...OUTCOMES.map((o) => o.title)],
      days.map((d) => [d.date, ...OUTCOMES.map((o) => number(d[o.key]))])));
}

// Replies count each lead once per step, bounces are hard ones; a rate of nothing sent is "—", never 0%.
function ratesPanel(bySteps, byMailboxes) {
  const cells = (r) => [number(r.sent), number(r.replies), percent(r.reply_rate), number(r.bounces), percent(r.bounce_rate)];
  return h("section", { class: "panel", id: "rates", "aria-labelledby": "rates-title" },
    h("h2", { id: "rates-title" }, "Reply and bounce rates"),
    bySteps.length
      ? ratesTable("rates-by-step", "Reply and bounce rates by step", "Step", bySteps.map((s) => [`Step ${s.step}`, ...cells(s)]))
      : h("p", { class: "muted empty" }, "The campaign has no steps yet."),
    byMailboxes.length
      ? ratesTable("rates-by-mailbox", "Reply and bounce rates by mailbox", "Mailbox",
        byMailboxes.map((m) => [h("span", { class: "mailbox-cell", title: m.mailbox_id }, m.mailbox ?? "Unknown mailbox"), ...cells(m)]))
      : h("p", { class: "muted" }, "No mailbox has sent for this campaign yet."),
    h("p", { class: "muted note" }, "A lead's replies to a step count once; bounces are hard bounces. Rates are of the emails sent."));
}

function ratesTable(id, caption, first, rows) {
  return h("div", { class: "table-wrap" },
    h("table", { id, class: "rates" }, h("caption", { class: "skip" }, caption),
      h("thead", {}, h("tr", {}, [first, ...RATE_HEADERS].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${rate.toLocaleString("en", { maximumFractionDigits: 1 })}%`;
}

function dataTable(caption, headers, rows) {
  if (!rows.length) return null;
  return h("details", { class: "as-table" },
    h("summary", {}, "Show as a table"),
    h("table", {}, h("caption", { class: "skip" }, caption),
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}
