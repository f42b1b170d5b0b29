// A campaign's recipients and what became of each: a page at a time from the API's
// recipients table, filtered by state, and all of them (or a state's) as CSV.

import { api, authHeaders, campaignPath, errorFrom } from "../api.js";
import { clear, count, h, when } from "../dom.js";
import { showError } from "../notice.js";

const PAGE_SIZE = 50;
// The API's states (shared/store/recipient_states.py), as people read them.
const STATES = [
  ["", "Every state"],
  ["pending", "Waiting"],
  ["sent", "Sent, no receipt yet"],
  ["delivered", "Delivered"],
  ["read", "Read"],
  ["failed", "Failed at send"],
  ["undelivered", "Failed after acceptance"],
  ["skipped", "Skipped"],
  ["cancelled", "Cancelled"],
  ["expired", "Expired"],
];
const STATE_LABELS = Object.fromEntries(STATES.filter(([value]) => value));
const COLUMNS = ["#", "Phone", "Name", "State", "Error", "Message id", "When"];

function row(recipient) {
  const error = recipient.errorCode
    ? `${recipient.errorCode} ${recipient.errorMeaning ?? ""}`.trim()
    : (recipient.reason ?? "—");
  return h(
    "tr",
    { "data-state": recipient.state },
    h("td", { class: "number", text: String(recipient.position + 1) }),
    h("td", { text: recipient.phone }),
    h("td", { text: recipient.name ?? "—" }),
    h("td", { text: STATE_LABELS[recipient.state] ?? recipient.state }),
    h("td", { text: error }),
    h("td", { class: "mono", text: recipient.messageSid ?? "—" }),
    h("td", { text: when(recipient.deliveryAt ?? recipient.outcomeAt) }),
  );
}

// Saved through a link to a blob: a plain link would not carry the bearer token.
async function download(path, filename, signal) {
  const response = await fetch(path, { headers: authHeaders(), signal });
  if (!response.ok) throw await errorFrom(response);
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function recipientsSection(id, signal) {
  let page = 1;
  const filter = h(
    "select",
    { id: "recipient-state", "aria-label": "Show recipients in state" },
    STATES.map(([value, label]) => h("option", { value, text: label })),
  );
  const exportButton = h("button", {
    type: "button",
    class: "secondary",
    id: "export-csv",
    text: "Export CSV",
  });
  const body = h("tbody", { id: "recipients" });
  const pager = h("nav", { class: "pager", "aria-label": "Recipient pages" });

  const stateQuery = () => (filter.value ? `state=${encodeURIComponent(filter.value)}` : "");

  async function load() {
    body.parentElement?.setAttribute("aria-busy", "true");
    try {
      const query = [`page=${page}`, `limit=${PAGE_SIZE}`, stateQuery()].filter(Boolean);
      const data = await api(`${campaignPath(id, "recipients")}?${query.join("&")}`, { signal });
      clear(
        body,
        data.recipients.length
          ? data.recipients.map(row)
          : h("tr", {}, h("td", { colspan: COLUMNS.length, class: "muted", text: "None." })),
      );
      const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
      const move = (by) => () => {
        page += by;
        load();
      };
      clear(
        pager,
        h("button", {
          type: "button",
          class: "secondary",
          disabled: page <= 1,
          onclick: move(-1),
          text: "← Previous",
        }),
        h("span", {
          id: "recipients-total",
          "data-total": data.total,
          text: `Page ${page} of ${pages} · ${count(data.total)} recipients`,
        }),
        h("button", {
          type: "button",
          class: "secondary",
          disabled: page >= pages,
          onclick: move(1),
          text: "Next →",
        }),
      );
    } catch (error) {
      showError(error);
    } finally {
      body.parentElement?.setAttribute("aria-busy", "false");
    }
  }

  filter.addEventListener("change", () => {
    page = 1;
    load();
  });
  exportButton.addEventListener("click", async () => {
    exportButton.disabled = true;
    const query = stateQuery();
    const suffix = filter.value ? `-${filter.value}` : "";
    try {
      await download(
        `${campaignPath(id, "recipients.csv")}${query ? `?${query}` : ""}`,
        `${id}-recipients${suffix}.csv`,
        signal,
      );
    } catch (error) {
      showError(error);
    } finally {
      exportButton.disabled = false;
    }
  });

  const section = h(
    "section",
    { class: "card", "aria-labelledby": "recipients-heading" },
    h("h2", { id: "recipients-heading", text: "Recipients" }),
    h("div", { class: "actions" }, filter, exportButton),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, COLUMNS.map((t) => h("th", { scope: "col", text: t })))),
        body,
      ),
    ),
    pager,
  );
  section.reload = load;
  return section;
}
