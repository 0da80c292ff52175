// "Outbox (local)": what `leadflow up`'s local SMTP capture received, newest first, each with its headers and
// text. Nothing sent to the capture leaves the machine.
import { api } from "./api.js";
import { absoluteTime, field, h, relativeTime, replaceChildren } from "./dom.js";

const LIMITS = [50, 100, 200];

export async function renderOutbox(root) {
  document.title = "Outbox (local) · Leadflow";
  const list = h("ol", { class: "outbox", id: "outbox", "aria-label": "Captured messages" });
  const status = h("p", { id: "outbox-status", class: "muted", "aria-live": "polite" });
  const limit = h("select", { id: "outbox-limit", onchange: () => load() }, LIMITS.map((n) => h("option", { value: n }, String(n))));
  const load = async () => {
    let answer;
    try {
      answer = await api.get("/api/v1/dev/outbox", { limit: limit.value });
    } catch (e) {
      replaceChildren(list);
      status.textContent = e.message;
      return;
    }
    if (!answer.enabled) {
      replaceChildren(list);
      replaceChildren(status, "The local capture is off on this server: ", h("code", {}, "leadflow up"), " (", h("code", {}, "make run"), ") runs it, and gives the workspace a “Local capture” mailbox that sends into it.");
      return;
    }
    const n = answer.items.length;
    status.textContent = n ? `The newest ${n} message${n === 1 ? "" : "s"} captured; none of them was delivered.` : "Nothing captured yet: activate a campaign that sends from the “Local capture” mailbox.";
    replaceChildren(list, answer.items.map(messageItem));
  };
  replaceChildren(root,
    h("h1", {}, "Outbox (local)"),
    h("p", { class: "muted" }, "Every message sent to the local SMTP capture server of ", h("code", {}, "leadflow up"), ": kept here, never delivered."),
    h("div", { class: "row panel" },
      field("outbox-limit", "Show", limit),
      h("div", { class: "field" }, h("button", { type: "button", id: "outbox-refresh", onclick: () => load() }, "Refresh"))),
    status,
    list,
  );
  await load();
  root.focus();
}

function messageItem(message) {
  const headers = Object.entries(message.headers);
  return h("li", { class: "panel", dataset: { messageId: message.message_id } },
    h("div", { class: "outbox-head" },
      h("h2", {}, message.subject || "(no subject)"),
      h("time", { datetime: message.received_at, title: absoluteTime(message.received_at) }, relativeTime(message.received_at))),
    h("dl", { class: "fields" },
      h("dt", {}, "From"), h("dd", {}, message.from),
      h("dt", {}, "To"), h("dd", {}, message.to),
      h("dt", {}, "Message-ID"), h("dd", {}, message.message_id || "—")),
    h("pre", { class: "mail-text" }, message.text || "(no plain-text part)"),
    h("details", { class: "headers" },
      h("summary", {}, `All headers (${headers.length})`),
      h("dl", {}, headers.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]))),
  );
}
