// Leads from the other sources: the workspace's pipeline (pick leads) and the company directory (by filter,
// with a preview of the matches).
import { api } from "./api.js";
import { field, h, number, replaceChildren } from "./dom.js";
import { showImportProgress } from "./imports.js";
import { openDialog } from "./modal.js";

const debounce = (fn, ms = 300) => { let t; return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); }; };
const textInput = (id, placeholder) => h("input", { type: "text", id, placeholder });
const labelled = field;
const PREVIEW_ROWS = 10;
const option = (value, text = value) => h("option", { value }, text);
const compact = (n) => new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 }).format(n);

/** "10–49", "1000+", "1M–5M": a size or revenue band; "" when unknown. */
function band(min, max, format = number) {
  if (min == null && max == null) return "";
  if (max == null) return `${format(min)}+`;
  if (min == null || min === max) return format(max);
  return `${format(min)}–${format(max)}`;
}

/** Employees and yearly revenue, each from–to (whole numbers; either side may stay empty). */
function rangeInputs(prefix) {
  const input = (id) => h("input", { type: "number", id: `${prefix}-${id}`, min: 0, step: 1, inputmode: "numeric" });
  const box = { size_min: input("size-min"), size_max: input("size-max"), revenue_min: input("revenue-min"), revenue_max: input("revenue-max") };
  const labels = { size_min: "Employees from", size_max: "Employees to", revenue_min: "Revenue from", revenue_max: "Revenue to" };
  const values = () => Object.fromEntries(Object.entries(box).filter(([, el]) => el.value !== "").map(([k, el]) => [k, Number(el.value)]));
  return {
    inputs: Object.values(box),
    fields: Object.entries(box).map(([key, el]) => labelled(el.id, labels[key], el, key.startsWith("size") ? "narrow" : "money")),
    values,
    /** Why the ranges cannot be searched, in words; null when they can. */
    problem() {
      for (const [key, el] of Object.entries(box)) {
        if (!el.validity.valid || (el.value !== "" && !Number.isInteger(Number(el.value)))) return `${labels[key]}: enter a whole number of at least 0.`;
      }
      const v = values();
      if (v.size_min > v.size_max) return "Employees from is more than Employees to.";
      if (v.revenue_min > v.revenue_max) return "Revenue from is more than Revenue to.";
      return null;
    },
  };
}

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

export function openPipelineImport(campaignId, onImported) {
  const inputs = {
    q: textInput("pipe-q", "email, name, company"), city: textInput("pipe-city", "Praha"),
    industry: textInput("pipe-industry", ""), stage: textInput("pipe-stage", "qualified"),
  };
  const ranges = rangeInputs("pipe");
  const list = h("div", { class: "pick-list", id: "pipeline-list" });
  const count = h("p", { id: "pipeline-count", "aria-live": "polite" });
  const selected = new Set();
  const importSelected = h("button", { type: "button", class: "primary", disabled: true }, "Import selected");
  const importAll = h("button", { type: "button", disabled: true }, "Import all matching");
  const body = h("div", { id: "pipeline-import" });
  const footer = h("div", { class: "actions" }, importAll, importSelected);
  let finished = false;
  openDialog({ title: "Import from Pipeline", body, footer: [footer], className: "wide", onClose: () => { if (finished) onImported(); } });

  const texts = () => Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]).filter(([, v]) => v));
  // The import takes the list's keys, with one value per list key as a list.
  const asFilter = () => ({ ...Object.fromEntries(Object.entries(texts()).map(([k, v]) => [k, k === "q" ? v : [v]])), ...ranges.values() });
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
    const problem = ranges.problem();
    if (problem) { total = 0; count.textContent = problem; replaceChildren(list); refreshButtons(); return; }
    try {
      // The import's own filter object: the count shown is what "Import all matching" reads.
      const page = await api.post("/api/v1/pipeline/leads/search", { filter: asFilter(), limit: 100 });
      if (mine !== asked) return;
      total = page.total;
      selected.clear();
      const matches = page.total === 1 ? "pipeline lead matches" : "pipeline leads match";
      count.textContent = `${number(page.total)} ${matches}${page.total > page.items.length ? ` (showing the first ${page.items.length})` : ""}.`;
      replaceChildren(list, page.items.length ? h("table", {}, h("tbody", {}, page.items.map((lead) => {
        const box = h("input", { type: "checkbox", "aria-label": `Select ${lead.email ?? lead.company_name}`, onchange: (e) => {
          if (e.target.checked) selected.add(lead.id); else selected.delete(lead.id);
          refreshButtons();
        } });
        return h("tr", {}, h("td", {}, box), h("td", {}, lead.company_name ?? ""), h("td", {}, lead.email ?? "(no email)"),
          h("td", { class: "hide-narrow" }, [lead.city, lead.stage].filter(Boolean).join(" · ")),
          h("td", { class: "hide-narrow" }, [
            lead.company_size != null ? `${number(lead.company_size)} employees` : null,
            lead.revenue != null ? `revenue ${compact(lead.revenue)}` : null,
          ].filter(Boolean).join(" · ")));
      }))) : h("p", { class: "empty" }, "No pipeline leads match."));
    } catch (e) {
      if (mine !== asked) return;
      total = 0;
      count.textContent = e.message;
    }
    refreshButtons();
  };
  const start = (payload) => runImport(body, footer, () => api.post(`/api/v1/campaigns/${campaignId}/imports/pipeline`, payload), () => { finished = true; });
  importSelected.addEventListener("click", () => start({ ids: [...selected] }));
  importAll.addEventListener("click", () => start({ filter: asFilter() }));
  const later = debounce(search);
  for (const el of [...Object.values(inputs), ...ranges.inputs]) el.addEventListener("input", later);
  replaceChildren(body,
    h("div", { class: "row", role: "search" }, labelled("pipe-q", "Search", inputs.q), labelled("pipe-city", "City", inputs.city),
      labelled("pipe-industry", "Industry", inputs.industry), labelled("pipe-stage", "Stage", inputs.stage)),
    h("div", { class: "row ranges" }, ranges.fields),
    count, list);
  search();
  inputs.q.focus();
}

export async function openDirectoryImport(campaignId, onImported) {
  const country = h("select", { id: "dir-country" }, option("", "Any country"));
  const city = h("select", { id: "dir-city" }, option("", "Any city"));
  const industry = h("select", { id: "dir-industry" }, option("", "Any industry"));
  const ranges = rangeInputs("dir");
  const q = textInput("dir-q", "name, website, email");
  const count = h("p", { id: "directory-count", "aria-live": "polite" }, "Counting…");
  const preview = h("div", { class: "pick-list", id: "directory-preview" });
  const add = h("button", { type: "button", class: "primary", id: "directory-add", disabled: true }, "Add to campaign");
  const body = h("div", { id: "directory-import" });
  const footer = h("div", { class: "actions" }, add);
  let finished = false;
  openDialog({ title: "Add from Database", body, footer: [footer], className: "wide", onClose: () => { if (finished) onImported(); } });

  const fill = (select, values, anyLabel) => replaceChildren(select, option("", anyLabel), values.map((v) => option(v)));
  const filter = () => {
    const f = {};
    if (country.value) f.country = [country.value];
    if (city.value) f.city = [city.value];
    if (industry.value) f.industry = [industry.value];
    Object.assign(f, ranges.values());
    if (q.value.trim()) f.q = q.value.trim();
    return f;
  };
  let asked = 0;
  const recount = async () => {
    const mine = ++asked; // only the newest answer is shown
    const problem = ranges.problem();
    if (problem) { count.textContent = problem; replaceChildren(preview); add.disabled = true; return; }
    try {
      // The import's own filter object: the count and the companies shown are what "Add" imports.
      const page = await api.post("/api/v1/directory/companies/search", { filter: filter(), limit: PREVIEW_ROWS });
      if (mine !== asked) return;
      count.textContent = page.total > page.items.length
        ? `${number(page.total)} companies match (the first ${page.items.length} below).`
        : `${number(page.total)} ${page.total === 1 ? "company matches" : "companies match"}.`;
      replaceChildren(preview, page.items.length ? companyTable(page.items) : h("p", { class: "empty" }, "No company matches."));
      add.disabled = page.total === 0;
      add.textContent = `Add ${number(page.total)} ${page.total === 1 ? "company" : "companies"}`;
    } catch (e) {
      if (mine === asked) { count.textContent = e.message; replaceChildren(preview); add.disabled = true; }
    }
  };
  const later = debounce(recount, 250);
  country.addEventListener("change", async () => {
    const facets = await api.get("/api/v1/directory/facets", { country: country.value });
    fill(city, facets.cities, "Any city");
    recount();
  });
  for (const el of [city, industry]) el.addEventListener("change", recount);
  for (const el of [...ranges.inputs, q]) el.addEventListener("input", later);
  add.addEventListener("click", () => runImport(body, footer,
    () => api.post(`/api/v1/campaigns/${campaignId}/imports/directory`, { filter: filter() }), () => { finished = true; }));

  replaceChildren(body,
    h("div", { class: "row", role: "search" },
      labelled("dir-country", "Country", country), labelled("dir-city", "City", city), labelled("dir-industry", "Industry", industry),
      labelled("dir-q", "Search", q, "grow")),
    h("div", { class: "row ranges" }, ranges.fields),
    count, preview);
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

/** The first matching companies, so the user sees what "Add" will bring before adding it. */
function companyTable(items) {
  return h("table", { "aria-label": "Matching companies" },
    h("thead", {}, h("tr", {}, ["Company", "City", "Industry", "Employees", "Revenue", "Contact"].map((t, i) =>
      h("th", { scope: "col", class: i >= 2 && i !== 3 ? "hide-narrow" : null }, t)))),
    h("tbody", {}, items.map((c) => h("tr", {},
      h("td", {}, c.company_name),
      h("td", {}, [c.city, c.country].filter(Boolean).join(", ")),
      h("td", { class: "hide-narrow" }, c.industry ?? ""),
      h("td", {}, band(c.size_min, c.size_max)),
      h("td", { class: "hide-narrow", title: band(c.revenue_min, c.revenue_max) }, band(c.revenue_min, c.revenue_max, compact)),
      h("td", { class: "hide-narrow" }, c.email ?? "(no email)")))));
}
