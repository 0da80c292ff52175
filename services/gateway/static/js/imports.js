// What every kind of import shares: live progress over SSE (with Cancel), then the breakdown and the report.
import { api, followImport } from "./api.js";
import { h, number, progressBar, replaceChildren, toast } from "./dom.js";

export const OUTCOMES = [
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
export function importTitle(record) {
  return record.filename || record.label || SOURCE_TITLES[record.source] || "Import";
}

/** "40% · 1,200 of 3,000 rows" once the total is known; before any row, what is happening. */
export function progressText(p) {
  const total = p.total_rows ?? null;
  if (!p.rows_done && !p.percent) return total ? `Starting · 0 of ${number(total)} rows` : "Reading the file…";
  const rows = total ? `${number(p.rows_done)} of ${number(total)} rows` : `${number(p.rows_done)} rows so far`;
  return `${Math.floor(p.percent)}% · ${rows}`;
}

/** Asks the importer to stop `importId` after its current chunk; what was imported stays. */
export async function cancelImport(importId) {
  try {
    await api.post(`/api/v1/imports/${importId}/cancel`);
    return true;
  } catch (e) {
    toast(e.message);
    return false;
  }
}

/** Shows `started`'s progress in `container` until it ends; resolves with the final import record. */
export async function showImportProgress(container, started) {
  const bar = progressBar("Import progress");
  bar.set(started.percent);
  const text = h("p", { id: "import-status", "aria-live": "polite" }, progressText(started));
  const cancel = h("button", { type: "button", class: "danger", id: "cancel-import", onclick: async () => {
    cancel.disabled = true;
    cancel.textContent = "Cancelling…";
    if (!(await cancelImport(started.id))) { cancel.disabled = false; cancel.textContent = "Cancel import"; }
  } }, "Cancel import");
  replaceChildren(container, h("h3", {}, importTitle(started)), bar, text,
    started.state === "running" ? h("p", {}, cancel) : null);
  let total = started.total_rows ?? null;
  const record = started.state === "running"
    ? await followImport(started.id, (p) => {
      total = p.total_rows ?? total;
      bar.set(p.percent);
      text.textContent = progressText({ ...p, total_rows: total });
    })
    : started;
  bar.set(record.state === "completed" ? 100 : record.percent);
  replaceChildren(container, h("h3", {}, importTitle(record)), bar, breakdown(record));
  return record;
}

export function breakdown(record, { compact = false } = {}) {
  const of = record.total_rows ? ` of ${number(record.total_rows)}` : "";
  const rows = (record.total_rows ?? record.rows_done) === 1 ? "row" : "rows";
  const headline = {
    completed: `Import finished: ${number(record.rows_done)}${of} ${rows} read.`,
    cancelled: `Import cancelled after ${number(record.rows_done)}${of} ${rows}; what was imported stays.`,
    failed: `Import failed: ${record.error || "unknown error"}.`,
    running: progressText(record),
  }[record.state] ?? record.state;
  const shown = compact ? OUTCOMES.filter(([key]) => key === "imported" || record.counts?.[key]) : OUTCOMES;
  return h("div", { class: "import-breakdown", id: compact ? null : "import-breakdown" },
    h("p", { class: `import-headline ${record.state === "failed" ? "error" : ""}`.trim(), id: compact ? null : "import-status" }, headline),
    h("ul", { class: `breakdown ${compact ? "compact" : ""}`.trim(), "aria-label": "Breakdown" }, shown.map(([key, label]) =>
      h("li", { dataset: { outcome: key } }, h("b", {}, number(record.counts?.[key] ?? 0)), label))),
    // The report lists the rows that were not imported: offered when there are some.
    record.report_url && OUTCOMES.some(([key]) => key !== "imported" && record.counts?.[key])
      ? h("p", {}, h("a", { href: record.report_url, download: "", class: "report-link", id: compact ? null : "report-link" }, "Download the rejected-rows report (CSV)"))
      : null,
  );
}
