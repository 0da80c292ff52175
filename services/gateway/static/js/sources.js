// Leads from the other sources: the workspace's pipeline (pick leads) and the company directory (by filter).
import { api } from "./api.js";
import { field, h, number, replaceChildren } from "./dom.js";
import { showImportProgress } from "./imports.js";
import { openDialog } from "./modal.js";

const debounce = (fn, ms = 300) => { let t; return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); }; };
const textInput = (id, placeholder) => h("input", { type: "text", id, placeholder });
const labelled = field;
const option = (value, text = value) => h("option", { value }, text);

/** Runs an import started by `start()` in the dialog's body and shows its breakdown. */
async function runImport(body, footer, start, done) {
  const container = h("div", { id: "import-progress" });
  try {
    const started = await start();
    replaceChildren(body, container);
    replaceChildren(footer);
    await showImportProgress(container, started);
    done();
  } catch (e) {
    body.append(h("p", { class: "error", role: "alert" }, e.message));
  }
}

// --- the pipeline ---

export function openPipelineImport(campaignId, onImported) {
  const inputs = { q: textInput("pipe-q", "email, name, company"), city: textInput("pipe-city", "Praha"), industry: textInput("pipe-industry", ""), stage: textInput("pipe-stage", "qualified") };
  const list = h("div", { class: "pick-list", id: "pipeline-list" });
  const count = h("p", { id: "pipeline-count", "aria-live": "polite" });
  const selected = new Set();
  const importSelected = h("button", { type: "button", class: "primary", disabled: true }, "Import selected");
  const importAll = h("button", { type: "button", disabled: true }, "Import all matching");
  const body = h("div", { id: "pipeline-import" });
  const footer = h("div", { class: "actions" }, importAll, importSelected);
  let finished = false;
  openDialog({ title: "Import from Pipeline", body: [body, footer], onClose: () => { if (finished) onImported(); } });

  const filter = () => Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]).filter(([, v]) => v));
  const asFilter = () => Object.fromEntries(Object.entries(filter()).map(([k, v]) => [k, k === "q" ? v : [v]]));
  let total = 0;
  const refreshButtons = () => {
    importSelected.disabled = selected.size === 0;
    importSelected.textContent = `Import selected (${number(selected.size)})`;
    importAll.disabled = total === 0;
    importAll.textContent = `Import all ${number(total)} matching`;
  };
  let asked = 0;
  const search = async () => {
    const mine = ++asked; // only the newest answer is shown
    try {
      const page = await api.get("/api/v1/pipeline/leads", { ...filter(), limit: 100 });
      if (mine !== asked) return;
      total = page.total;
      selected.clear();
      count.textContent = `${number(page.total)} pipeline leads match${page.total > page.items.length ? ` (showing the first ${page.items.length})` : ""}.`;
      replaceChildren(list, page.items.length ? h("table", {}, h("tbody", {}, page.items.map((lead) => {
        const box = h("input", { type: "checkbox", "aria-label": `Select ${lead.email ?? lead.company_name}`, onchange: (e) => {
          if (e.target.checked) selected.add(lead.id); else selected.delete(lead.id);
          refreshButtons();
        } });
        return h("tr", {}, h("td", {}, box), h("td", {}, lead.company_name ?? ""), h("td", {}, lead.email ?? "(no email)"),
          h("td", { class: "hide-narrow" }, [lead.city, lead.stage].filter(Boolean).join(" · ")));
      }))) : h("p", { class: "empty" }, "No pipeline leads match."));
    } catch (e) {
      count.textContent = e.message;
    }
    refreshButtons();
  };
  const start = (payload) => runImport(body, footer, () => api.post(`/api/v1/campaigns/${campaignId}/imports/pipeline`, payload), () => { finished = true; });
  importSelected.addEventListener("click", () => start({ ids: [...selected] }));
  importAll.addEventListener("click", () => start({ filter: asFilter() }));
  const later = debounce(search);
  for (const el of Object.values(inputs)) el.addEventListener("input", later);
  replaceChildren(body,
    h("div", { class: "row", role: "search" }, labelled("pipe-q", "Search", inputs.q), labelled("pipe-city", "City", inputs.city),
      labelled("pipe-industry", "Industry", inputs.industry), labelled("pipe-stage", "Stage", inputs.stage)),
    count, list);
  search();
  inputs.q.focus();
}

// --- the company directory ---

export async function openDirectoryImport(campaignId, onImported) {
  const country = h("select", { id: "dir-country" }, option("", "Any country"));
  const city = h("select", { id: "dir-city" }, option("", "Any city"));
  const industry = h("select", { id: "dir-industry" }, option("", "Any industry"));
  const sizeMin = h("input", { type: "number", id: "dir-size-min", min: 0, inputmode: "numeric" });
  const sizeMax = h("input", { type: "number", id: "dir-size-max", min: 0, inputmode: "numeric" });
  const q = textInput("dir-q", "name, website, email");
  const count = h("p", { id: "directory-count", "aria-live": "polite" }, "Counting…");
  const add = h("button", { type: "button", class: "primary", id: "directory-add", disabled: true }, "Add to campaign");
  const body = h("div", { id: "directory-import" });
  const footer = h("div", { class: "actions" }, add);
  let finished = false;
  openDialog({ title: "Add from Database", body: [body, footer], onClose: () => { if (finished) onImported(); } });

  const fill = (select, values, anyLabel) => replaceChildren(select, option("", anyLabel), values.map((v) => option(v)));
  const filter = () => {
    const f = {};
    if (country.value) f.country = [country.value];
    if (city.value) f.city = [city.value];
    if (industry.value) f.industry = [industry.value];
    if (sizeMin.value) f.size_min = Number(sizeMin.value);
    if (sizeMax.value) f.size_max = Number(sizeMax.value);
    if (q.value.trim()) f.q = q.value.trim();
    return f;
  };
  let asked = 0;
  const recount = async () => {
    const mine = ++asked; // only the newest answer is shown
    try {
      const page = await api.get("/api/v1/directory/companies", { ...filter(), limit: 1 });
      if (mine !== asked) return;
      count.textContent = `${number(page.total)} companies match.`;
      add.disabled = page.total === 0;
      add.textContent = `Add ${number(page.total)} companies`;
    } catch (e) {
      if (mine === asked) { count.textContent = e.message; add.disabled = true; }
    }
  };
  const later = debounce(recount, 250);
  country.addEventListener("change", async () => {
    const facets = await api.get("/api/v1/directory/facets", { country: country.value });
    fill(city, facets.cities, "Any city");
    recount();
  });
  for (const el of [city, industry]) el.addEventListener("change", recount);
  for (const el of [sizeMin, sizeMax, q]) el.addEventListener("input", later);
  add.addEventListener("click", () => runImport(body, footer,
    () => api.post(`/api/v1/campaigns/${campaignId}/imports/directory`, { filter: filter() }), () => { finished = true; }));

  replaceChildren(body,
    h("div", { class: "row", role: "search" },
      labelled("dir-country", "Country", country), labelled("dir-city", "City", city), labelled("dir-industry", "Industry", industry),
      labelled("dir-size-min", "Employees from", sizeMin), labelled("dir-size-max", "Employees to", sizeMax), labelled("dir-q", "Search", q)),
    count);
  try {
    const facets = await api.get("/api/v1/directory/facets");
    fill(country, facets.countries, "Any country");
    fill(city, facets.cities, "Any city");
    fill(industry, facets.industries, "Any industry");
  } catch (e) {
    count.textContent = `The directory is not available: ${e.message}`;
    return;
  }
  recount();
  country.focus();
}
