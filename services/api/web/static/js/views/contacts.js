// Saved contacts and lists, on the system of record: search and import contacts, make
// and delete lists and see who is on them; admins also see the opt-outs.

import { api, authHeaders, errorFrom } from "../api.js";
import { confirmAction } from "../confirm.js";
import { clear, count, h, when } from "../dom.js";
import { showError, showNotice } from "../notice.js";
import { fillListChoices } from "./form-parts.js";
import { pagedTable } from "./paged-table.js";

const PAGE = 20;
const SEARCH_DELAY_MS = 300;

const variablesText = (contact) =>
  Object.entries(contact.vars ?? {})
    .map(([name, value]) => `${name}=${value}`)
    .join(", ") || "—";

const CONTACT_COLUMNS = [
  ["Phone", (c) => c.phone],
  ["Name", (c) => c.name ?? "—"],
  ["Variables", variablesText],
];

async function importFile(file, listId, signal) {
  const form = new FormData();
  form.append("file", file);
  const query = listId ? `?listId=${encodeURIComponent(listId)}` : "";
  const response = await fetch(`/api/contacts/import${query}`, {
    method: "POST",
    headers: authHeaders(),
    body: form,
    signal,
  });
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

export function showContacts(view) {
  const controller = new AbortController();
  const { signal } = controller;
  let search = "";
  let shownList = null;

  const searchBox = h("input", {
    id: "contact-search",
    type: "search",
    placeholder: "Name, or the start of a phone number",
    "aria-label": "Search contacts",
  });
  const contacts = pagedTable({
    id: "contacts",
    label: "Contacts",
    path: (page) =>
      `/api/contacts?page=${page}&limit=${PAGE}${search ? `&search=${encodeURIComponent(search)}` : ""}`,
    rowsOf: (answer) => answer.contacts,
    columns: CONTACT_COLUMNS,
    empty: "No contacts yet: import a CSV file.",
    noun: "contact",
    signal,
  });
  let searchTimer = null;
  searchBox.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      search = searchBox.value.trim();
      contacts.reload();
    }, SEARCH_DELAY_MS);
  });

  // Import: a CSV file, optionally added to a list as it goes in.
  const file = h("input", { id: "import-file", type: "file", accept: ".csv,text/csv" });
  const importList = h("select", { id: "import-list" }, h("option", { value: "", text: "No list" }));
  const importReport = h("div", { id: "import-report", "aria-live": "polite" });
  const importButton = h("button", { type: "submit", text: "Import" });
  const importForm = h(
    "form",
    { class: "import" },
    h("label", { for: "import-file", text: "Import contacts (CSV file)" }),
    h("p", { class: "hint", text: "A header row with a phone column; name and other columns are optional." }),
    file,
    h("label", { for: "import-list", text: "Also add them to" }),
    importList,
    h("div", { class: "actions" }, importButton),
    importReport,
  );
  importForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files[0]) {
      showNotice("Choose a CSV file to import.");
      return;
    }
    importButton.disabled = true;
    try {
      const report = await importFile(file.files[0], importList.value, signal);
      const joined = report.addedToList === undefined || report.addedToList === null ? "" : `, ${count(report.addedToList)} added to the list`;
      clear(
        importReport,
        h("p", {
          text: `${count(report.imported)} imported (${count(report.created)} new, ${count(report.updated)} updated), ${count(report.skipped)} skipped${joined}.`,
        }),
        report.errors.length
          ? h("ul", { class: "warning" }, report.errors.map((e) => h("li", { text: `Line ${e.row}: ${e.message}` })))
          : null,
      );
      contacts.reload();
      lists.reload();
      loadListChoices();
      if (shownList) members.reload();
    } catch (error) {
      showError(error);
    } finally {
      importButton.disabled = false;
    }
  });

  // Lists: each with its size; a name opens its members below.
  const membersHeading = h("h3", { id: "members-heading", text: "" });
  const members = pagedTable({
    id: "members",
    label: "List members",
    path: (page) => `/api/lists/${encodeURIComponent(shownList.id)}/members?page=${page}&limit=${PAGE}`,
    rowsOf: (answer) => answer.contacts,
    columns: CONTACT_COLUMNS,
    empty: "Nobody on this list yet.",
    noun: "member",
    signal,
  });
  const membersBox = h("div", { hidden: true }, membersHeading, members);

  async function deleteList(list) {
    const go = await confirmAction({
      title: "Delete this list?",
      body: h("p", { text: `"${list.name}" goes; its ${count(list.size)} contacts stay in your contacts.` }),
      confirm: "Delete the list",
      danger: true,
    });
    if (!go) return;
    try {
      await api(`/api/lists/${encodeURIComponent(list.id)}`, { method: "DELETE", signal });
      if (shownList?.id === list.id) membersBox.hidden = true;
      lists.reload();
      loadListChoices();
    } catch (error) {
      showError(error);
    }
  }

  const lists = pagedTable({
    id: "lists",
    label: "Lists",
    path: (page) => `/api/lists?page=${page}&limit=${PAGE}`,
    rowsOf: (answer) => answer.lists,
    columns: [
      [
        "Name",
        (list) =>
          h("button", {
            type: "button",
            class: "link",
            text: list.name,
            onclick: () => {
              shownList = list;
              membersHeading.textContent = `On "${list.name}"`;
              membersBox.hidden = false;
              members.reload();
            },
          }),
      ],
      ["Contacts", (list) => count(list.size)],
      ["Created", (list) => when(list.createdAt)],
      [
        "",
        (list) =>
          h("button", { type: "button", class: "secondary", text: "Delete", "aria-label": `Delete list ${list.name}`, onclick: () => deleteList(list) }),
      ],
    ],
    empty: "No lists yet.",
    noun: "list",
    signal,
  });
  const listName = h("input", { id: "list-name", autocomplete: "off", "aria-describedby": "list-name-error" });
  const listError = h("p", { class: "field-error", id: "list-name-error", "aria-live": "polite" });
  const listForm = h(
    "form",
    { class: "new-list" },
    h("label", { for: "list-name", text: "New list" }),
    h("div", { class: "actions" }, listName, h("button", { type: "submit", text: "Create list" })),
    listError,
  );
  listForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    listError.textContent = "";
    try {
      await api("/api/lists", { method: "POST", json: { name: listName.value }, signal });
      listName.value = "";
      lists.reload();
      loadListChoices();
    } catch (error) {
      listError.textContent = error.message;
    }
  });

  const loadListChoices = () => fillListChoices(importList, signal, { none: "No list" });

  // Opt-outs: the API answers them to admins only; for anyone else the section stays away.
  const optOuts = h("section", { class: "card", "aria-labelledby": "opt-outs-heading", hidden: true });
  api("/api/suppressions?limit=20", { signal }).then(
    () => {
      clear(
        optOuts,
        h("h2", { id: "opt-outs-heading", text: "Opt-outs (admins)" }),
        pagedTable({
          id: "opt-outs",
          label: "Opt-outs",
          path: (page) => `/api/suppressions?page=${page}&limit=${PAGE}`,
          rowsOf: (answer) => answer.suppressions,
          columns: [
            ["Phone", (s) => s.phone],
            ["Why", (s) => s.reason],
            ["Since", (s) => when(s.addedAt)],
          ],
          empty: "Nobody has opted out.",
          noun: "opt-out",
          signal,
        }),
      );
      optOuts.querySelector("div").reload();
      optOuts.hidden = false;
    },
    () => {},
  );

  clear(
    view,
    h("h1", { text: "Contacts" }),
    h(
      "section",
      { class: "card", "aria-labelledby": "contacts-heading" },
      h("h2", { id: "contacts-heading", text: "Your contacts" }),
      searchBox,
      contacts,
      importForm,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "lists-heading" },
      h("h2", { id: "lists-heading", text: "Lists" }),
      lists,
      listForm,
      membersBox,
    ),
    optOuts,
  );
  contacts.reload();
  lists.reload();
  loadListChoices();
  return () => {
    clearTimeout(searchTimer);
    controller.abort();
  };
}
