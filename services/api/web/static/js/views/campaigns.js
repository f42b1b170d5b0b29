// The user's campaigns, newest first: status and progress of each.

import { api, campaignPath } from "../api.js";
import { clear, count, h, progressBar, statusBadge, when } from "../dom.js";
import { showError } from "../notice.js";

const PAGE_SIZE = 20;

function row(campaign, status) {
  // The API's account of the campaign: processed (a send outcome) out of the total, and
  // where every recipient ended ("12 sent · 18 cancelled").
  const account = status?.account ?? {
    processed: 0,
    total: campaign.totalContacts,
    percentProcessed: 0,
    summary: `${count(campaign.totalContacts)} waiting`,
  };
  const bar = progressBar(`Progress of ${campaign.name ?? campaign.id}`);
  bar.set(account.processed, account.total, campaign.status);
  return h(
    "li",
    { class: "campaign-row", "data-campaign-id": campaign.id },
    h(
      "div",
      { class: "campaign-name" },
      h("a", {
        href: `#/campaigns/${encodeURIComponent(campaign.id)}`,
        text: campaign.name ?? campaign.id,
      }),
      h("span", {
        class: "muted",
        text: `${campaign.priority} priority · created ${when(campaign.createdAt)}`,
      }),
    ),
    statusBadge(campaign.status),
    h(
      "div",
      { class: "campaign-progress" },
      bar,
      h("span", {
        class: "progress-text",
        title: `${count(account.processed)} of ${count(account.total)} processed (${account.percentProcessed}%)`,
        text: account.summary,
      }),
    ),
  );
}

export function showCampaigns(view) {
  const controller = new AbortController();
  const list = h(
    "ul",
    { class: "campaign-list", "aria-busy": "true" },
    h("li", { class: "muted", text: "Loading…" }),
  );
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const refresh = h("button", { type: "button", class: "secondary", text: "Refresh" });
  let page = 1;

  async function load() {
    list.setAttribute("aria-busy", "true");
    try {
      const { signal } = controller;
      const data = await api(`/api/campaigns?page=${page}&limit=${PAGE_SIZE}`, { signal });
      // One queue-status per campaign shown: the list itself carries no progress.
      const statuses = await Promise.all(
        data.campaigns.map((c) =>
          api(campaignPath(c.id, "queue-status"), { signal }).then(
            (s) => s.status,
            () => null,
          ),
        ),
      );
      clear(
        list,
        data.campaigns.length
          ? data.campaigns.map((c, i) => row(c, statuses[i]))
          : h(
              "li",
              { class: "muted" },
              "No campaigns yet. ",
              h("a", { href: "#/new", text: "Create one" }),
            ),
      );
      const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
      // Nothing to page through: "Page 1 of 1 · 0 campaigns" would only add noise.
      pager.hidden = data.total === 0;
      clear(
        pager,
        h("button", {
          type: "button",
          class: "secondary",
          disabled: page <= 1,
          onclick: () => {
            page -= 1;
            load();
          },
          text: "← Newer",
        }),
        h("span", { text: `Page ${page} of ${pages} · ${count(data.total)} campaigns` }),
        h("button", {
          type: "button",
          class: "secondary",
          disabled: page >= pages,
          onclick: () => {
            page += 1;
            load();
          },
          text: "Older →",
        }),
      );
    } catch (error) {
      showError(error);
      clear(list, h("li", { class: "muted", text: "The campaigns could not be loaded." }));
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }

  refresh.addEventListener("click", load);
  clear(
    view,
    h(
      "div",
      { class: "heading" },
      h("h1", { text: "Campaigns" }),
      h(
        "div",
        { class: "actions" },
        refresh,
        h("a", { class: "button", href: "#/new", text: "New campaign" }),
      ),
    ),
    list,
    pager,
  );
  load();
  return () => controller.abort();
}
