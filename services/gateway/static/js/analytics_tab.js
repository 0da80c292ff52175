// A campaign's Analytics tab: the totals, emails sent per day and the step funnel (how many leads reached each
// step), drawn by charts.js, from GET /campaigns/{id}/analytics. Each chart's numbers are also a table.
import { api, notOffered } from "./api.js";
import { columnChart, fillDays, funnelChart } from "./charts.js";
import { h, number, replaceChildren } from "./dom.js";

const TOTALS = [["sent", "Emails sent"], ["leads", "Leads"], ["completed", "Completed"], ["bounced", "Bounced"], ["unsubscribed", "Unsubscribed"]];

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
    );
  }
}

function dataTable(caption, headers, rows) {
  if (!rows.length) return null;
  return h("details", { class: "as-table" },
    h("summary", {}, "Show as a table"),
    h("table", {}, h("caption", { class: "skip" }, caption),
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}
