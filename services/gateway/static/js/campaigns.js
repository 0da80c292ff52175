// The campaign list and "New campaign".
import { api } from "./api.js";
import { field, h, number, relativeTime, replaceChildren } from "./dom.js";

export async function renderCampaigns(root) {
  document.title = "Campaigns · Leadflow";
  const list = h("ul", { class: "cards", "aria-label": "Campaigns" });
  const name = h("input", { type: "text", id: "campaign-name", required: true, maxlength: 200, placeholder: "Prague agencies Q4" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "panel row", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const campaign = await api.post("/api/v1/campaigns", { name: name.value.trim() });
      location.hash = `#/campaigns/${campaign.id}`;
    } catch (e) { error.textContent = e.message; }
  } },
    field("campaign-name", "New campaign", name, "grow"),
    h("button", { type: "submit", class: "primary" }, "Create campaign"),
    error,
  );
  replaceChildren(root, h("h1", {}, "Campaigns"), form, list);
  const campaigns = await api.get("/api/v1/campaigns");
  replaceChildren(list, campaigns.length ? campaigns.map((c) => h("li", {},
    h("a", { href: `#/campaigns/${c.id}` },
      h("span", { class: "name" }, c.name),
      h("span", { class: "muted" }, `${number(c.leads)} leads · created ${relativeTime(c.created_at)}`)),
  )) : h("li", { class: "empty" }, "No campaigns yet: create the first one above."));
  root.focus();
}
