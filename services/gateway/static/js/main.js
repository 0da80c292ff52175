// Boot and hash routing: #/campaigns, #/campaigns/<id>. Without a session, the sign-in form.
import { api } from "./api.js";
import { renderSignIn } from "./signin.js";
import { renderCampaigns } from "./campaigns.js";
import { renderCampaign } from "./campaign.js";

const app = document.getElementById("app");
const topbar = document.querySelector(".topbar");
let leaveView = () => {};

async function route() {
  leaveView();
  leaveView = () => {};
  let workspace;
  try {
    workspace = await api.get("/api/v1/workspace");
  } catch {
    topbar.hidden = true;
    renderSignIn(app, () => route());
    return;
  }
  topbar.hidden = false;
  document.getElementById("workspace-name").textContent = workspace.name;
  const match = location.hash.match(/^#\/campaigns\/([0-9a-f-]{36})/);
  if (match) leaveView = (await renderCampaign(app, match[1])) ?? leaveView;
  else await renderCampaigns(app);
}

document.getElementById("sign-out").addEventListener("click", async () => {
  await api.del("/ui/session");
  location.hash = "";
  route();
});
window.addEventListener("hashchange", route);
window.addEventListener("leadflow:signed-out", () => { if (!topbar.hidden) route(); });
route();
