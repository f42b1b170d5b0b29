// A new campaign, or a draft edited: name, text or template, recipients from a CSV file,
// a saved list or saved contacts chosen one by one, schedule, priority, and a live preview of the messages as they would go out. The API
// validates; its 422 errors are shown next to the fields they name.

import { api, campaignPath } from "../api.js";
import { clear, count, h } from "../dom.js";
import { clearNotice, showError, showNotice } from "../notice.js";
import { joined, problemWords, sentence } from "../error-words.js";
import { readContacts } from "./csv.js";
import { contactPicker } from "./contact-picker.js";
import { field, fillListChoices, localInput, saveContacts, variablesFrom } from "./form-parts.js";
import { previewParts } from "./preview.js";

// How long typing must pause before the preview is asked for again.
const PREVIEW_DELAY_MS = 400;
const PREVIEWED = 3;

export function showCreate(view, editId = null) {
  const controller = new AbortController();
  let editing = null;
  const controls = {
    name: h("input", { id: "name", name: "name", autocomplete: "off" }),
    message: h("textarea", { id: "message", name: "message", rows: 4 }),
    contentSid: h("input", {
      id: "contentSid",
      name: "contentSid",
      placeholder: "HX…",
      autocomplete: "off",
    }),
    contentVariables: h("textarea", {
      id: "contentVariables",
      name: "contentVariables",
      rows: 3,
      placeholder: "1=Ana",
    }),
    contacts: h("input", {
      id: "contacts",
      name: "contacts",
      type: "file",
      accept: ".csv,text/csv",
    }),
    listId: h("select", { id: "listId", name: "listId" }),
    scheduledAt: h("input", { id: "scheduledAt", name: "scheduledAt", type: "datetime-local" }),
    priority: h(
      "select",
      { id: "priority", name: "priority" },
      ["low", "normal", "high"].map((p) =>
        h("option", { value: p, selected: p === "normal", text: p }),
      ),
    ),
  };
  for (const [id, control] of Object.entries(controls))
    control.setAttribute("aria-describedby", `${id}-error`);
  const kinds = ["text", "template"].map((kind) =>
    h("input", {
      type: "radio",
      name: "kind",
      id: `kind-${kind}`,
      value: kind,
      checked: kind === "text",
    }),
  );
  const textPart = field(
    "message",
    "Message",
    controls.message,
    "May use {{name}}, {{phone}} or any CSV column.",
  );
  // The audience: a CSV file, a list saved on the Contacts page, or saved contacts.
  const SOURCES = { file: "A CSV file", list: "A saved list", picked: "Saved contacts" };
  const sources = Object.keys(SOURCES).map((source) =>
    h("input", {
      type: "radio",
      name: "audience",
      id: `audience-${source}`,
      value: source,
      checked: source === "file",
    }),
  );
  const fromList = () => sources[1].checked;
  const fromPicked = () => sources[2].checked;
  const picker = contactPicker({ signal: controller.signal, onChange: () => schedulePreview() });
  const filePart = field(
    "contacts",
    "Contacts (CSV file)",
    controls.contacts,
    "A header row with a phone column; name and other columns are optional.",
  );
  const listPart = h("div", { hidden: true }, field("listId", "Saved list", controls.listId));
  const templatePart = h(
    "div",
    { hidden: true },
    field("contentSid", "Template content SID", controls.contentSid),
    field(
      "contentVariables",
      "Template variables",
      controls.contentVariables,
      "One name=value per line.",
    ),
  );
  const formError = h("p", { class: "field-error", id: "form-error", "aria-live": "polite" });
  const submit = h("button", {
    type: "submit",
    text: editId ? "Save changes" : "Create campaign",
  });
  const previewBody = h("div", { id: "preview-body" });
  const previewCard = h(
    "section",
    { class: "card", id: "preview", "aria-labelledby": "preview-heading", "aria-live": "polite" },
    h("h2", { id: "preview-heading", text: "Preview" }),
    previewBody,
  );
  const form = h(
    "form",
    { class: "card", novalidate: true, id: "create-form" },
    field("name", "Name", controls.name),
    h(
      "fieldset",
      { class: "kinds" },
      h("legend", { text: "Message kind" }),
      kinds.map((input) =>
        h(
          "span",
          { class: "check" },
          input,
          h("label", {
            for: input.id,
            text: input.value === "text" ? "Text" : "Approved template",
          }),
        ),
      ),
    ),
    textPart,
    templatePart,
    h(
      "fieldset",
      { class: "kinds" },
      h("legend", { text: "Recipients" }),
      sources.map((input) =>
        h(
          "span",
          { class: "check" },
          input,
          h("label", { for: input.id, text: SOURCES[input.value] }),
        ),
      ),
    ),
    filePart,
    listPart,
    picker.element,
    h(
      "div",
      { class: "two-columns" },
      field("scheduledAt", "Schedule (optional)", controls.scheduledAt),
      field("priority", "Priority", controls.priority),
    ),
    formError,
    submit,
  );

  let contactLines = [];
  // The chosen file, read once: the preview asks again at every pause in typing.
  let parsed = { file: null, contacts: [], lines: [] };
  const isTemplate = () => kinds[1].checked;
  for (const input of kinds) {
    input.addEventListener("change", () => {
      textPart.hidden = isTemplate();
      templatePart.hidden = !isTemplate();
    });
  }

  function clearErrors() {
    clearNotice();
    formError.textContent = "";
    for (const [id, control] of Object.entries(controls)) {
      document.getElementById(`${id}-error`).textContent = "";
      control.removeAttribute("aria-invalid");
    }
    document.getElementById("picked-error").textContent = "";
  }

  function mark(id, text) {
    const slot = document.getElementById(`${id}-error`);
    if (!slot) return false;
    slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
    controls[id]?.setAttribute("aria-invalid", "true");
    return true;
  }

  // ["body", "contacts", 3, "phone"] -> the contacts field, naming the CSV line (from 1);
  // any other problem beside its field, in the API's own sentence.
  function placeError(problem) {
    const [, top, ...rest] = problem.loc ?? [];
    const words = problemWords(problem);
    if (top === "contacts" && Number.isInteger(rest[0])) {
      const line = contactLines[rest[0]];
      const where = line && !fromPicked() ? `Line ${line}` : `Contact ${rest[0] + 1}`;
      if (fromPicked()) return mark("picked", `${where}: ${words}.`);
      const what = rest[1] && /^(is|must|needs) /.test(words) ? `${String(rest[1]).toLowerCase()} ` : "";
      return mark("contacts", `${where}: ${what}${words}.`);
    }
    if (top === "contacts" || top === "listId") {
      if (fromList()) return mark("listId", `${joined("Saved list", words)}.`);
      if (fromPicked()) return mark("picked", "Choose at least one contact.");
      return mark("contacts", words === "must have at least one entry" ? "Choose a file with at least one contact." : `${joined("Contacts", words)}.`);
    }
    if (top === "message") {
      const part = rest.find((p) => p === "contentSid" || p === "contentVariables");
      return mark(part ?? (isTemplate() ? "contentSid" : "message"), `${sentence(problem)}.`);
    }
    if (top === "expiresAt") return mark("scheduledAt", `${sentence(problem)}.`);
    return top in controls ? mark(top, `${sentence(problem)}.`) : false;
  }

  async function contactsOf(file) {
    if (!file) return { contacts: [], lines: [] };
    if (parsed.file !== file) parsed = { file, ...(await readContacts(file)) };
    return parsed;
  }

  async function body() {
    const file = fromList() || fromPicked() ? null : controls.contacts.files[0];
    const { contacts, lines } = await contactsOf(file);
    contactLines = lines;
    const message = isTemplate()
      ? {
          contentSid: controls.contentSid.value.trim(),
          contentVariables: variablesFrom(controls.contentVariables.value),
        }
      : controls.message.value;
    const when = controls.scheduledAt.value;
    const scheduled =
      when && !Number.isNaN(new Date(when).getTime()) ? new Date(when).toISOString() : when;
    return {
      name: controls.name.value,
      message,
      ...(fromList() ? { listId: controls.listId.value } : { contacts: fromPicked() ? picker.ids() : contacts }),
      priority: controls.priority.value,
      ...(scheduled ? { scheduledAt: scheduled } : {}),
    };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    submit.disabled = true;
    try {
      let request;
      try {
        request = await body();
      } catch (problem) {
        // The file or the variables could not be read: nothing was sent.
        mark(problem.field ?? "contentVariables", `${problem.message}.`);
        return;
      }
      let campaign;
      if (editId) {
        // Left out: the audience when no new file was chosen, so it stays as it is.
        if (sources[0].checked && !controls.contacts.files[0]) delete request.contacts;
        if (!request.scheduledAt && editing?.scheduledAt) request.scheduledAt = null;
        campaign = await api(campaignPath(editId), {
          method: "PATCH",
          json: request,
          signal: controller.signal,
        });
      } else {
        campaign = await api("/api/campaigns", {
          method: "POST",
          json: request,
          signal: controller.signal,
        });
      }
      const chosenFile = sources[0].checked ? controls.contacts.files[0] : null;
      const saved = (await saveContacts(chosenFile)) ?? (editId ? "Changes saved." : null);
      if (saved) addEventListener("hashchange", () => showNotice(saved, "info"), { once: true });
      location.hash = `#/campaigns/${encodeURIComponent(campaign.id)}`;
    } catch (error) {
      const unplaced = (error.errors ?? []).filter((e) => !placeError(e));
      // The fields say what is wrong; the notice only points at them.
      if (error.status === 422 && unplaced.length < (error.errors ?? []).length) {
        showNotice("Please correct the fields marked below.");
      } else {
        showError(error);
      }
      formError.textContent = unplaced.map((e) => `${sentence(e)}.`).join(" ");
      form.querySelector("[aria-invalid=true]")?.focus();
    } finally {
      submit.disabled = false;
    }
  });

  // The preview: the first messages as they would go out, and the variables some
  // recipients lack, for the form as it stands (or, editing without a new file, the
  // campaign as saved).
  let previewTimer = null;
  let previewAsked = 0;
  async function preview() {
    const asked = ++previewAsked;
    const file = sources[0].checked ? controls.contacts.files[0] : null;
    let answer;
    try {
      if (file || (fromList() && controls.listId.value) || (fromPicked() && picker.ids().length)) {
        const { name, priority, scheduledAt, ...audienceAndMessage } = await body();
        answer = await api("/api/campaigns/preview", {
          method: "POST",
          json: { ...audienceAndMessage, limit: PREVIEWED },
          signal: controller.signal,
        });
      } else if (editId) {
        answer = await api(campaignPath(editId, "preview"), {
          method: "POST",
          json: { limit: PREVIEWED },
          signal: controller.signal,
        });
      } else {
        clear(
          previewBody,
          h("p", { class: "hint", text: "Choose a contacts file or a list to see the messages." }),
        );
        return;
      }
    } catch (error) {
      if (error.name === "AbortError" || asked !== previewAsked) return;
      const first = error.errors?.[0];
      const reason = first ? sentence(first) : error.message.replace(/\.$/, "");
      clear(previewBody, h("p", { class: "hint", text: `No preview yet: ${reason}.` }));
      return;
    }
    if (asked !== previewAsked) return;
    clear(
      previewBody,
      h("p", {
        class: "hint",
        text: `${count(answer.totalRecipients)} recipients${!file && editId ? ", as saved" : ""}; the first ${answer.messages.length}:`,
      }),
      previewParts(answer),
    );
  }
  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, PREVIEW_DELAY_MS);
  }
  for (const control of [controls.message, controls.contentSid, controls.contentVariables])
    control.addEventListener("input", schedulePreview);
  controls.contacts.addEventListener("change", schedulePreview);
  controls.listId.addEventListener("change", schedulePreview);
  for (const input of sources) {
    input.addEventListener("change", () => {
      filePart.hidden = !sources[0].checked;
      listPart.hidden = !fromList();
      picker.show(fromPicked());
      schedulePreview();
    });
  }

  const loadLists = () =>
    fillListChoices(controls.listId, controller.signal, {
      empty: "No lists yet: make one on the Contacts page",
      unit: " contacts",
    });
  for (const input of kinds) input.addEventListener("change", schedulePreview);

  async function loadForEditing() {
    try {
      editing = await api(campaignPath(editId), { signal: controller.signal });
    } catch (error) {
      showError(error);
      submit.disabled = true;
      return;
    }
    controls.name.value = editing.name ?? "";
    if (typeof editing.message === "string") {
      controls.message.value = editing.message;
    } else {
      kinds[1].checked = true;
      kinds[1].dispatchEvent(new Event("change"));
      controls.contentSid.value = editing.message.contentSid;
      controls.contentVariables.value = Object.entries(editing.message.contentVariables ?? {})
        .map(([name, value]) => `${name}=${value}`)
        .join("\n");
    }
    controls.priority.value = editing.priority;
    controls.scheduledAt.value = localInput(editing.scheduledAt);
    document.getElementById("contacts-hint").textContent =
      `Leave empty to keep its ${count(editing.totalContacts)} recipients; a new file replaces them.`;
    if (!["draft", "scheduled"].includes(editing.status)) {
      showNotice(`This campaign is ${editing.status}: only a draft or a scheduled one can be edited.`);
      submit.disabled = true;
    }
    schedulePreview();
  }

  clear(
    view,
    editId
      ? h("p", { class: "crumbs" }, h("a", { href: `#/campaigns/${encodeURIComponent(editId)}`, text: "← Campaign" }))
      : null,
    h("h1", { text: editId ? "Edit campaign" : "New campaign" }),
    h("div", { class: "form-and-preview" }, form, previewCard),
  );
  loadLists();
  if (editId) loadForEditing();
  else schedulePreview();
  controls.name.focus();
  return () => {
    clearTimeout(previewTimer);
    controller.abort();
  };
}
