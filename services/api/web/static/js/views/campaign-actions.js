// A campaign's own actions beside its controls: edit and delete a draft, clone any
// campaign, and send a test of its message to a few numbers of your own.

import { api, campaignPath } from "../api.js";
import { h } from "../dom.js";
import { showError, showNotice } from "../notice.js";
import { confirmDelete } from "./confirmations.js";

const EDITABLE = ["draft", "scheduled"];

export function campaignActions(id, { signal, getCampaign }) {
  const edit = h("a", {
    class: "button secondary",
    id: "edit-campaign",
    href: `#/campaigns/${encodeURIComponent(id)}/edit`,
    text: "Edit",
    hidden: true,
  });
  const remove = h("button", {
    type: "button",
    class: "secondary",
    id: "delete-campaign",
    text: "Delete",
    hidden: true,
  });
  const clone = h("button", { type: "button", class: "secondary", id: "clone-campaign", text: "Clone" });

  remove.addEventListener("click", async () => {
    if (!(await confirmDelete(getCampaign()))) return;
    try {
      await api(campaignPath(id), { method: "DELETE", signal });
      addEventListener("hashchange", () => showNotice("Campaign deleted.", "info"), { once: true });
      location.hash = "#/";
    } catch (error) {
      showError(error);
    }
  });
  clone.addEventListener("click", async () => {
    clone.disabled = true;
    try {
      const copy = await api(campaignPath(id, "clone"), { method: "POST", signal });
      addEventListener("hashchange", () => showNotice(`Cloned as "${copy.name}", a draft.`, "info"), {
        once: true,
      });
      location.hash = `#/campaigns/${encodeURIComponent(copy.id)}`;
    } catch (error) {
      showError(error);
    } finally {
      clone.disabled = false;
    }
  });

  const phone = h("input", {
    id: "test-phone",
    type: "tel",
    autocomplete: "tel",
    placeholder: "+34 611 001 000",
    "aria-describedby": "test-phone-hint",
  });
  const send = h("button", { type: "submit", class: "secondary", text: "Send test" });
  const testForm = h(
    "form",
    { class: "test-send", id: "test-send" },
    h("label", { for: "test-phone", text: "Send a test to" }),
    h("p", {
      class: "hint",
      id: "test-phone-hint",
      text: "Up to 5 numbers, separated by commas. A test goes through the same limits and sender as the campaign, and never counts in it.",
    }),
    h("div", { class: "actions" }, phone, send),
  );
  testForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const phones = phone.value.split(",").map((p) => p.trim()).filter(Boolean);
    send.disabled = true;
    try {
      const answer = await api(campaignPath(id, "test-send"), {
        method: "POST",
        json: { phones },
        signal,
      });
      const to = answer.messages.map((m) => m.phone).join(", ");
      showNotice(`Test message queued to ${to}.`, "info");
    } catch (error) {
      showError(error);
    } finally {
      send.disabled = false;
    }
  });

  return {
    buttons: [edit, remove, clone],
    testForm,
    update(status) {
      const editable = EDITABLE.includes(status.status);
      edit.hidden = !editable;
      remove.hidden = !editable;
    },
  };
}
