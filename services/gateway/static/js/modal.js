// Dialogs on the native <dialog>: focus is trapped, Escape closes, the opener gets focus back.
import { h } from "./dom.js";

export function openDialog({ title, body, footer = [], className = "", onClose } = {}) {
  const titleId = `dlg-${Math.random().toString(36).slice(2, 8)}`;
  const closeButton = h("button", { type: "button", class: "link", "aria-label": "Close" }, "Close");
  const dialog = h("dialog", { class: className, "aria-labelledby": titleId },
    h("div", { class: "head" }, h("h2", { id: titleId }, title), closeButton),
    h("div", { class: "body" }, body),
    footer.length ? h("div", { class: "foot" }, footer) : null,
  );
  const opener = document.activeElement;
  closeButton.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    onClose?.();
    if (opener instanceof HTMLElement) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** Resolves true when the user confirms. */
export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    let confirmed = false;
    const ok = h("button", { type: "button", class: danger ? "danger" : "primary" }, confirmLabel);
    const cancel = h("button", { type: "button" }, "Cancel");
    const dialog = openDialog({ title, body: h("p", {}, message), footer: [cancel, ok], onClose: () => resolve(confirmed) });
    ok.addEventListener("click", () => { confirmed = true; dialog.close(); });
    cancel.addEventListener("click", () => dialog.close());
    cancel.focus();
  });
}
