// A campaign's page: its status (Activate / Pause / Resume), its tabs (Leads, Sequence, Schedule & sending,
// Analytics, Sends, Imports), the validation summary and the ways to add leads.
import { AnalyticsTab } from "./analytics_tab.js";
import { api } from "./api.js";
import { CampaignStatus } from "./campaign_status.js";
import { h, replaceChildren } from "./dom.js";
import { ImportHistory } from "./import_history.js";
import { openImportWizard } from "./import_wizard.js";
import { LeadsTab } from "./leads_tab.js";
import { SendsTab } from "./sends_tab.js";
import { SequenceTab } from "./sequence_tab.js";
import { SettingsTab } from "./settings_tab.js";
import { openDirectoryImport, openPipelineImport } from "./sources.js";
import { ValidationSummary } from "./validation_summary.js";

export const TABS = [
  ["leads", "Leads", ""],
  ["sequence", "Sequence", "/sequence"],
  ["settings", "Schedule & sending", "/settings"],
  ["analytics", "Analytics", "/analytics"],
  ["sends", "Sends", "/sends"],
  ["imports", "Imports", "/imports"],
];

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
  const status = new CampaignStatus(campaign, (changed) => { campaign = changed; });
  const head = [h("p", {}, h("a", { href: "#/campaigns" }, "← Campaigns")), h("h1", {}, campaign.name), status.element, tabs];
  const saved = (changed) => { campaign = changed; status.update(changed); };
  const addLeads = (onImported) => h("div", { class: "actions panel", role: "group", "aria-label": "Add leads" },
    h("button", { type: "button", class: "primary", onclick: () => openImportWizard(campaignId, onImported) }, "Import CSV"),
    h("button", { type: "button", onclick: () => openPipelineImport(campaignId, onImported) }, "Import from Pipeline"),
    h("button", { type: "button", onclick: () => openDirectoryImport(campaignId, onImported) }, "Add from Database"),
  );

  if (tab === "sequence") {
    document.title = `Sequence · ${campaign.name} · Leadflow`;
    replaceChildren(root, head, new SequenceTab(campaign, saved).element);
    return () => {};
  }
  if (tab === "settings") {
    document.title = `Schedule & sending · ${campaign.name} · Leadflow`;
    const settings = new SettingsTab(campaign, saved);
    replaceChildren(root, head, settings.element);
    await settings.load();
    return () => {};
  }
  if (tab === "analytics") {
    document.title = `Analytics · ${campaign.name} · Leadflow`;
    const analytics = new AnalyticsTab(campaignId);
    replaceChildren(root, head, analytics.element);
    await analytics.load();
    return () => {};
  }
  if (tab === "sends") {
    document.title = `Sends · ${campaign.name} · Leadflow`;
    const sends = new SendsTab(campaignId);
    replaceChildren(root, head, sends.element);
    await sends.load();
    return () => {};
  }
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
