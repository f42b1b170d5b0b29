// The parts of the campaign form that do not depend on its state: a labelled field with
// its error slot, template variables read from text, the contacts saved after a create,
// and a time as a datetime-local input takes it.

import { api } from "../api.js";
import { clear, count, h } from "../dom.js";
import { showError } from "../notice.js";

export function field(id, label, control, hint) {
  return h(
    "div",
    { class: "field", id: `${id}-field` },
    h("label", { for: id, text: label }),
    hint ? h("p", { class: "hint", id: `${id}-hint`, text: hint }) : null,
    control,
    h("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" }),
  );
}

export function variablesFrom(text) {
  const variables = {};
  for (const [index, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    const equals = line.indexOf("=");
    if (equals < 1) throw new Error(`line ${index + 1}: write one name=value per line`);
    variables[line.slice(0, equals).trim()] = line.slice(equals + 1).trim();
  }
  return variables;
}

// The file also goes to the contacts import, as `campaignctl` does, so that its rows are
// in the contact list for later campaigns. After the campaign exists: a campaign the API
// refused leaves no contacts behind. Returns what to tell, if anything.
export async function saveContacts(file) {
  if (!file) return null;
  const form = new FormData();
  form.append("file", file);
  try {
    const report = await api("/api/contacts/import", { method: "POST", form });
    const skipped = report.skipped ? `, ${report.skipped} skipped` : "";
    return `Campaign created; ${report.imported} contacts saved to your list${skipped}.`;
  } catch (error) {
    return `Campaign created, but its contacts were not saved to your list: ${error.message}`;
  }
}

// "2030-01-01T09:30:00Z" -> the local "2030-01-01T10:30" a datetime-local input takes.
export function localInput(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}


// A <select> of your saved lists, each with its size: `none` first when choosing no list
// is allowed, `empty` alone when there are none, `unit` after each size.
export async function fillListChoices(select, signal, { none = null, empty = null, unit = "" } = {}) {
  try {
    const answer = await api("/api/lists?limit=100", { signal });
    const sized = (list) => `${list.name} (${count(list.size)}${unit})`;
    const kept = select.value; // a refresh of the sizes keeps the choice
    clear(
      select,
      none ? h("option", { value: "", text: none }) : null,
      answer.lists.length || !empty
        ? answer.lists.map((list) => h("option", { value: list.id, text: sized(list) }))
        : h("option", { value: "", text: empty }),
    );
    if (kept && answer.lists.some((list) => list.id === kept)) select.value = kept;
  } catch (error) {
    showError(error);
  }
}
