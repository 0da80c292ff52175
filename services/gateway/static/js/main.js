// Boot and hash routing: #/campaigns, #/campaigns/<id>[/sequence|/settings|/analytics|/sends|/imports], #/unibox,
// #/mailboxes, #/suppressions, #/outbox. Without a session, the sign-in form.
import { api } from "./api.js";
import { renderSignIn } from "./signin.js";
import { renderCampaigns } from "./campaigns.js";
import { renderCampaign } from "./campaign.js";
import { renderMailboxes } from "./mailboxes.js";
import { renderOutbox } from "./outbox.js";
import { renderSuppressions } from "./suppressions.js";
import { renderUnibox } from "./unibox.js";

const app = document.getElementById("app");
const topbar = document.querySelector(".topbar");
let leaveView = () => {};

function markCurrent(section) {
  for (const link of topbar.querySelectorAll(".topnav a")) {
    if (link.id === `nav-${section}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// "Outbox (local)" is in the menu only where the gateway has a local capture (`leadflow up`); asked once.
let outboxShown;
function showOutboxLink() {
  outboxShown ??= api.get("/api/v1/dev/outbox", { limit: 1 }).then((answer) => answer.enabled, () => false);
  outboxShown.then((enabled) => { document.getElementById("nav-outbox").hidden = !enabled && location.hash !== "#/outbox"; });
}

async function route() {
  leaveView();
  leaveView = () => {};
  let state;
  try {
    state = await api.get("/ui/session");
  } catch {
    state = { signed_in: false };
  }
  if (!state.signed_in) {
    topbar.hidden = true;
    renderSignIn(app, () => route());
    return;
  }
  const { workspace } = state;
  topbar.hidden = false;
  document.getElementById("workspace-name").textContent = workspace.name;
  showOutboxLink();
  const campaign = location.hash.match(/^#\/campaigns\/([0-9a-f-]{36})(?:\/(imports|sequence|settings|analytics|sends))?$/);
  if (campaign) {
    markCurrent("campaigns");
    leaveView = (await renderCampaign(app, campaign[1], campaign[2] ?? "leads")) ?? leaveView;
  } else if (location.hash === "#/unibox") {
    markCurrent("unibox");
    leaveView = (await renderUnibox(app)) ?? leaveView;
  } else if (location.hash === "#/suppressions") {
    markCurrent("suppressions");
    await renderSuppressions(app);
  } else if (location.hash === "#/mailboxes") {
    markCurrent("mailboxes");
    await renderMailboxes(app);
  } else if (location.hash === "#/outbox") {
    markCurrent("outbox");
    await renderOutbox(app);
  } else {
    markCurrent("campaigns");
    await renderCampaigns(app);
  }
}

document.getElementById("sign-out").addEventListener("click", async () => {
  await api.del("/ui/session");
  location.hash = "";
  route();
});
window.addEventListener("hashchange", route);
window.addEventListener("leadflow:signed-out", () => { if (!topbar.hidden) route(); });
route();
