// A campaign's page: its tabs (Leads, Imports), the validation summary and the ways to add leads.
import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { ImportHistory } from "./import_history.js";
import { openImportWizard } from "./import_wizard.js";
import { LeadsTab } from "./leads_tab.js";
import { openDirectoryImport, openPipelineImport } from "./sources.js";
import { ValidationSummary } from "./validation_summary.js";

const TABS = [["leads", "Leads", ""], ["imports", "Imports", "/imports"]];

/** Renders the page; returns what to do when the user leaves it (close streams, stop timers). */
export async function renderCampaign(root, campaignId, tab = "leads") {
  let campaign;
  try {
    campaign = await api.get(`/api/v1/campaigns/${campaignId}`);
  } catch (e) {
    replaceChildren(root, h("h1", {}, "Campaign not found"), h("p", {}, e.message), h("a", { href: "#/campaigns" }, "All campaigns"));
    return () => {};
  }
  document.title = `${campaign.name} · Leadflow`;
  const tabs = h("nav", { class: "tabs", "aria-label": "Campaign" }, TABS.map(([key, text, suffix]) =>
    h("a", { href: `#/campaigns/${campaignId}${suffix}`, "aria-current": key === tab ? "page" : null, id: `tab-${key}` }, text)));
  const head = [h("p", {}, h("a", { href: "#/campaigns" }, "← Campaigns")), h("h1", {}, campaign.name), tabs];
  const addLeads = (onImported) => h("div", { class: "actions panel", role: "group", "aria-label": "Add leads" },
    h("button", { type: "button", class: "primary", onclick: () => openImportWizard(campaignId, onImported) }, "Import CSV"),
    h("button", { type: "button", onclick: () => openPipelineImport(campaignId, onImported) }, "Import from Pipeline"),
    h("button", { type: "button", onclick: () => openDirectoryImport(campaignId, onImported) }, "Add from Database"),
  );

  if (tab === "imports") {
    document.title = `Imports · ${campaign.name} · Leadflow`;
    const history = new ImportHistory(campaignId);
    replaceChildren(root, head, addLeads(() => history.load()), history.element);
    await history.load();
    return () => history.stop();
  }

  const summary = new ValidationSummary(campaignId, () => leads.load());
  const leads = new LeadsTab(campaignId, () => summary.refresh());
  replaceChildren(root, head, summary.element, addLeads(() => { leads.load(); summary.refresh(); }), leads.element);
  await Promise.all([summary.refresh(), leads.load()]);
  leads.follow();
  // Validation runs in the background for a while after an import: keep the summary current.
  const timer = setInterval(() => summary.refresh(), 5000);
  return () => { clearInterval(timer); leads.stop(); };
}
