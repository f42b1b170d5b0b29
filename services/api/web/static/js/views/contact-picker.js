// Saved contacts chosen one by one for a campaign: search them as on the Contacts page,
// tick who gets it. The campaign is sent to their ids, so it uses each contact's name and
// variables as saved.

import { api } from "../api.js";
import { clear, h } from "../dom.js";
import { showError } from "../notice.js";

const SHOWN = 20;
const SEARCH_DELAY_MS = 250;

const label = (contact) => (contact.name ? `${contact.name} (${contact.phone})` : contact.phone);

// onChange() runs whenever the chosen set changes. Returns the part's element and ids().
export function contactPicker({ signal, onChange }) {
  const chosen = new Map(); // id -> contact, in the order they were ticked
  const search = h("input", {
    id: "pick-search",
    type: "search",
    placeholder: "Name or the start of a phone number",
    autocomplete: "off",
  });
  const found = h("ul", { class: "picker", id: "pick-found", "aria-label": "Contacts found" });
  const summary = h("p", { class: "hint", id: "pick-summary", "aria-live": "polite" });

  function drawSummary() {
    summary.textContent = chosen.size
      ? `${chosen.size} chosen: ${[...chosen.values()].map(label).join(", ")}`
      : "Nobody chosen yet.";
  }

  function row(contact) {
    const box = h("input", {
      type: "checkbox",
      id: `pick-${contact.id}`,
      checked: chosen.has(contact.id),
    });
    box.addEventListener("change", () => {
      if (box.checked) chosen.set(contact.id, contact);
      else chosen.delete(contact.id);
      drawSummary();
      onChange();
    });
    return h("li", { class: "check" }, box, h("label", { for: box.id, text: label(contact) }));
  }

  async function find() {
    const text = search.value.trim();
    const query = `limit=${SHOWN}${text ? `&search=${encodeURIComponent(text)}` : ""}`;
    try {
      const answer = await api(`/api/contacts?${query}`, { signal });
      clear(
        found,
        answer.contacts.length
          ? answer.contacts.map(row)
          : h("li", { class: "muted", text: text ? "No contact matches." : "No contacts yet: add some on the Contacts page." }),
        answer.total > answer.contacts.length
          ? h("li", { class: "muted", text: `${answer.total - answer.contacts.length} more: narrow the search.` })
          : null,
      );
    } catch (error) {
      showError(error);
    }
  }

  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(find, SEARCH_DELAY_MS);
  });
  drawSummary();
  const element = h(
    "div",
    { class: "field", id: "picked-field", hidden: true },
    h("label", { for: "pick-search", text: "Find saved contacts" }),
    search,
    found,
    summary,
    h("p", { class: "field-error", id: "picked-error", "aria-live": "polite" }),
  );
  let loaded = false;
  return {
    element,
    ids: () => [...chosen.keys()],
    // The first search when the part is first shown, not on every form opened.
    show(visible) {
      element.hidden = !visible;
      if (visible && !loaded) {
        loaded = true;
        find();
      }
    },
  };
}
