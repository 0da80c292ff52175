// CSV import wizard: file → preview (encoding, delimiter, first rows) → column mapping → live progress → breakdown.
import { api } from "./api.js";
import { field, h, replaceChildren } from "./dom.js";
import { showImportProgress } from "./imports.js";
import { openDialog } from "./modal.js";

const FIELDS = [
  ["email", "Email (required)"], ["first_name", "First name"], ["last_name", "Last name"], ["company_name", "Company"],
  ["phone", "Phone"], ["website", "Website"], ["city", "City"], ["industry", "Industry"],
];
const DELIMITERS = { ",": "comma (,)", ";": "semicolon (;)", "\t": "tab", "|": "pipe (|)" };

export function openImportWizard(campaignId, onImported) {
  const body = h("div", { id: "import-wizard" });
  // The step's buttons live in the dialog's footer, which never scrolls away.
  const footer = h("div", { class: "actions" });
  let finished = false;
  const dialog = openDialog({ title: "Import CSV", body, footer: [footer], className: "wide", onClose: () => { if (finished) onImported(); } });
  const scroller = dialog.querySelector(".body");
  // Each step starts at its top: the previous step was left scrolled to its buttons.
  const showStep = (...content) => { replaceChildren(body, ...content); scroller.scrollTop = 0; };

  const chooseFile = () => {
    const file = h("input", { type: "file", id: "csv-file", accept: ".csv,.txt,text/csv", required: true });
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { id: "csv-form", onsubmit: async (event) => {
      event.preventDefault();
      const form = new FormData();
      form.append("file", file.files[0]);
      try {
        showPreview(file.files[0], await api.upload("/api/v1/imports/preview", form));
      } catch (e) { error.textContent = e.message; }
    } },
      h("p", {}, "Step 1 of 3 · Choose a CSV file. Any common encoding and delimiter is recognised."),
      field("csv-file", "CSV file", file),
      error,
    );
    showStep(form);
    replaceChildren(footer, h("button", { type: "submit", class: "primary", form: "csv-form" }, "Preview"));
    file.focus();
  };

  const showPreview = (file, preview) => {
    const rows = preview.rows.slice(0, 5);
    const selects = FIELDS.map(([name, label]) => {
      const select = h("select", { id: `map-${name}`, name },
        h("option", { value: "" }, "— not imported —"),
        preview.headers.map((header) => h("option", { value: header, selected: preview.suggested_mapping[name] === header }, header)));
      return [name, field(`map-${name}`, label, select), select];
    });
    const error = h("p", { class: "error", role: "alert" });
    const start = h("button", { type: "button", class: "primary", id: "start-import", onclick: async () => {
      const mapping = Object.fromEntries(selects.map(([name, , select]) => [name, select.value]).filter(([, v]) => v));
      if (!mapping.email) { error.textContent = "Map the column that holds the email address."; return; }
      const form = new FormData();
      form.append("file", file);
      form.append("mapping", JSON.stringify(mapping));
      start.disabled = true;
      try {
        const started = await api.upload(`/api/v1/campaigns/${campaignId}/imports`, form);
        replaceChildren(footer);
        const container = h("div", { id: "import-progress" });
        showStep(h("p", {}, "Step 3 of 3 · Importing"), container);
        await showImportProgress(container, started);
        finished = true;
        replaceChildren(footer, h("button", { type: "button", class: "primary", onclick: () => dialog.close() }, "Done"));
      } catch (e) { error.textContent = e.message; start.disabled = false; }
    } }, "Start import");
    showStep(
      h("p", {}, "Step 2 of 3 · Check the file and map its columns."),
      h("dl", { class: "fields", id: "detected" },
        h("dt", {}, "File"), h("dd", {}, file.name),
        h("dt", {}, "Encoding"), h("dd", { id: "detected-encoding" }, preview.encoding),
        h("dt", {}, "Delimiter"), h("dd", { id: "detected-delimiter" }, DELIMITERS[preview.delimiter] ?? preview.delimiter)),
      h("div", { class: "table-wrap" }, h("table", { class: "preview-table", "aria-label": "First rows" },
        h("thead", {}, h("tr", {}, preview.headers.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", { title: c }, c))))))),
      h("h3", {}, "Column mapping"),
      h("div", { class: "mapping" }, selects.map(([, label]) => label)),
    );
    replaceChildren(footer, error, h("button", { type: "button", onclick: chooseFile }, "Back"), start);
  };

  chooseFile();
}
