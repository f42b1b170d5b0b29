// A table read a page at a time from the API, with a pager under it: the contacts, a
// list's members and the opt-outs all page the same way.

import { api } from "../api.js";
import { clear, counted, h } from "../dom.js";
import { showError } from "../notice.js";

// path(page) -> the URL of that page; rowsOf(answer) -> its items; columns: [[heading,
// item -> text]]. Returns the table's element, with reload() to read page 1 again.
export function pagedTable({ id, label, path, rowsOf, columns, empty, signal, noun = "item" }) {
  let page = 1;
  const body = h("tbody", { id });
  const pager = h("nav", { class: "pager", "aria-label": `${label} pages` });
  const table = h(
    "table",
    { "aria-label": label },
    h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col", text: heading })))),
    body,
  );

  async function load() {
    table.setAttribute("aria-busy", "true");
    try {
      const answer = await api(path(page), { signal });
      const items = rowsOf(answer);
      clear(
        body,
        items.length
          ? items.map((item) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(item)))))
          : h("tr", {}, h("td", { colspan: columns.length, class: "muted", text: empty })),
      );
      const pages = Math.max(1, Math.ceil(answer.total / answer.limit));
      const move = (by) => () => {
        page += by;
        load();
      };
      // One page of them: no page buttons; none at all: not even the count of nothing.
      pager.hidden = answer.total === 0;
      clear(
        pager,
        pages > 1
          ? [
              h("button", { type: "button", class: "secondary", disabled: page <= 1, onclick: move(-1), text: "← Previous" }),
              h("span", { text: `Page ${page} of ${pages}` }),
              h("button", { type: "button", class: "secondary", disabled: page >= pages, onclick: move(1), text: "Next →" }),
            ]
          : null,
        h("span", { class: "muted", "data-total": answer.total, text: counted(answer.total, noun) }),
      );
    } catch (error) {
      showError(error);
    } finally {
      table.setAttribute("aria-busy", "false");
    }
  }

  const element = h("div", {}, h("div", { class: "table-wrap" }, table), pager);
  element.reload = () => {
    page = 1;
    return load();
  };
  return element;
}
