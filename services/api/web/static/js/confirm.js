// Asking before something that cannot be undone: a modal dialog with the facts to decide
// on, answered true (go ahead) or false (cancel, Escape, or closing it).

import { h } from "./dom.js";

export function confirmAction({ title, body = [], confirm, danger = false }) {
  return new Promise((resolve) => {
    const yes = h("button", {
      type: "button",
      class: danger ? "danger" : "",
      "data-confirm": "yes",
      text: confirm,
    });
    const no = h("button", { type: "button", class: "secondary", text: "Cancel" });
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title", text: title }),
      body,
      h("div", { class: "actions" }, no, yes),
    );
    const answer = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    yes.addEventListener("click", () => answer(true));
    no.addEventListener("click", () => answer(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      answer(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}
