// What every kind of import shares: live progress over SSE, then the breakdown and the report link.
import { followImport } from "./api.js";
import { h, number, progressBar, replaceChildren } from "./dom.js";

const OUTCOMES = [
  ["imported", "Imported"],
  ["duplicate_in_file", "Duplicates in file"],
  ["already_in_campaign", "Already in campaign"],
  ["suppressed", "Suppressed"],
  ["invalid_format", "Invalid address"],
  ["missing_email", "No email"],
  ["rejected", "Rejected rows"],
];

const SOURCE_TITLES = { csv: "CSV file", directory: "Company database", pipeline: "Pipeline" };

/** A heading for an import: its file name, or where its leads came from. */
function title(record) {
  return record.filename || SOURCE_TITLES[record.source] || "Import";
}

/** Shows `started`'s progress in `container` until it ends; resolves with the final import record. */
export async function showImportProgress(container, started) {
  const bar = progressBar("Import progress");
  const text = h("p", { id: "import-status", "aria-live": "polite" }, "Starting…");
  replaceChildren(container, h("h3", {}, title(started)), bar, text);
  const record = started.state === "running"
    ? await followImport(started.id, (p) => {
      bar.set(p.percent);
      const of = p.total_rows ? ` of ${number(p.total_rows)}` : "";
      text.textContent = `${Math.floor(p.percent)}% · ${number(p.rows_done)}${of} rows`;
    })
    : started;
  bar.set(record.state === "completed" ? 100 : record.percent);
  replaceChildren(container, h("h3", {}, title(record)), bar, breakdown(record));
  return record;
}

export function breakdown(record) {
  const headline = {
    completed: `Import finished: ${number(record.rows_done)} rows read.`,
    cancelled: `Import cancelled after ${number(record.rows_done)} rows; what was imported stays.`,
    failed: `Import failed: ${record.error || "unknown error"}.`,
  }[record.state] ?? record.state;
  return h("div", { id: "import-breakdown" },
    h("p", { id: "import-status", class: record.state === "failed" ? "error" : "" }, headline),
    h("ul", { class: "breakdown", "aria-label": "Breakdown" }, OUTCOMES.map(([key, label]) =>
      h("li", { dataset: { outcome: key } }, h("b", {}, number(record.counts?.[key] ?? 0)), label))),
    record.report_url
      ? h("p", {}, h("a", { href: record.report_url, download: "", id: "report-link" }, "Download the rejected-rows report (CSV)"))
      : null,
  );
}
