// Sign in with an API key; the gateway keeps it in an HttpOnly session cookie.
import { api } from "./api.js";
import { field, h, replaceChildren } from "./dom.js";

export function renderSignIn(root, onSignedIn) {
  const key = h("input", { type: "password", name: "api_key", id: "api-key", autocomplete: "current-password", required: true, placeholder: "lf_…" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "panel", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await api.post("/ui/session", { api_key: key.value });
      onSignedIn();
    } catch (e) {
      error.textContent = e.status === 401 ? "That API key is unknown or revoked." : e.message;
      key.select();
    }
  } },
    h("h1", {}, "Sign in to Leadflow"),
    field("api-key", "API key", key),
    h("p", { class: "muted", id: "sign-in-hint" },
      h("code", {}, "leadflow workspace create NAME"), " prints one; ", h("code", {}, "make run"), " prints a dev key."),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  replaceChildren(root, h("section", { class: "signin" }, form));
  document.title = "Sign in · Leadflow";
  key.focus();
}
