// The system: campaign counts, the processing queue, workers, Kafka and Redis, alerts.

import { api } from "../api.js";
import { clear, count, facts, h, when } from "../dom.js";
import { showError } from "../notice.js";

// Every few seconds while the view is open; consumer lag itself is cached for 2 s.
const REFRESH_MS = 5000;

const STATUS_COUNTS = [
  ["waiting", "Queued"],
  ["active", "Sending or throttled"],
  ["paused", "Paused"],
  ["scheduled", "Scheduled"],
  ["draft", "Draft"],
  ["completed", "Completed"],
  ["stopped", "Stopped"],
  ["failed", "Failed"],
];

const FUNNEL = [
  ["accepted", "Accepted"],
  ["sent", "Sent"],
  ["delivered", "Delivered"],
  ["read", "Read"],
  ["failed", "Failed"],
  ["undelivered", "Undelivered"],
];

const yesNo = (value) => (value ? "✓ connected" : "✗ not connected");
const BREAKER = {
  closed: "✓ closed",
  half_open: "◐ half open",
  open: "✗ open",
  unknown: "? unknown",
};

function table(headings, rows, empty) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headings.map((t) => h("th", { scope: "col", text: t })),
        ),
      ),
      h(
        "tbody",
        {},
        rows.length
          ? rows.map((cells) =>
              h(
                "tr",
                {},
                cells.map((c, i) => h(i ? "td" : "th", i ? {} : { scope: "row" }, c)),
              ),
            )
          : h("tr", {}, h("td", { colspan: headings.length, class: "muted", text: empty })),
      ),
    ),
  );
}

function alertItem(alert) {
  const details = Object.entries(alert.details)
    .map(([k, v]) => `${k}: ${v}`)
    .join(" · ");
  return h(
    "li",
    { class: "alert", "data-alert": alert.name },
    h("strong", { text: `⚠ ${alert.name}` }),
    h("span", { text: ` ${alert.message}` }),
    h("span", {
      class: "muted",
      text: ` since ${when(alert.raisedAt)}${details ? ` · ${details}` : ""}`,
    }),
  );
}

function render(metrics, alerts) {
  const { campaignQueue, processingQueue, system } = metrics;
  // metrics.funnel: the funnel summed over recent campaigns, where the API has it.
  return [
    h(
      "section",
      { class: "card", "aria-labelledby": "alerts-heading" },
      h("h2", { id: "alerts-heading", text: `Active alerts (${alerts.length})` }),
      alerts.length
        ? h("ul", { class: "alerts", id: "alerts" }, alerts.map(alertItem))
        : h("p", { id: "alerts", class: "muted", text: "✓ No active alerts." }),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "counts-heading" },
      h("h2", { id: "counts-heading", text: "Campaigns by status" }),
      facts(
        STATUS_COUNTS.map(([key, label]) => [label, count(campaignQueue[key])]),
        { class: "facts tiles" },
      ),
    ),
    metrics.funnel
      ? h(
          "section",
          { class: "card", "aria-labelledby": "funnel-heading" },
          h("h2", { id: "funnel-heading", text: "Delivery funnel of recent campaigns" }),
          facts(
            FUNNEL.map(([key, label]) => [label, count(metrics.funnel[key])]),
            { class: "facts tiles" },
          ),
        )
      : null,
    h(
      "section",
      { class: "card", "aria-labelledby": "queue-heading" },
      h("h2", { id: "queue-heading", text: "Processing queue" }),
      facts([
        ["Messages waiting", count(processingQueue.pendingMessages)],
        ["Batches in flight", count(processingQueue.inFlightBatches)],
      ]),
      table(
        ["Topic", "Consumer lag"],
        Object.entries(processingQueue.consumerLag).map(([topic, lag]) => [topic, count(lag)]),
        "No lag reported.",
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "totals-heading" },
      h("h2", { id: "totals-heading", text: "Your campaigns" }),
      facts([
        ["Sent", count(metrics.totals.sent)],
        ["Failed", count(metrics.totals.failed)],
      ]),
    ),
    // The infrastructure is for admins: for others the API leaves it null in `system`.
    system?.kafka ? systemSection(system) : null,
  ];
}

function systemSection(system) {
  return h(
    "section",
    { class: "card", "aria-labelledby": "system-heading" },
    h("h2", { id: "system-heading", text: "System" }),
    facts([
      ["Active senders", count(system.activeWorkers)],
      ["Circuit breaker", BREAKER[system.circuitBreaker] ?? system.circuitBreaker],
      ["Kafka", yesNo(system.kafka?.connected)],
      ["Redis", yesNo(system.redis?.connected)],
      [
        "Average campaign time",
        system.averageProcessingTimeMs == null
          ? "—"
          : `${(system.averageProcessingTimeMs / 1000).toFixed(1)} s`,
      ],
      ["API uptime", `${Math.round(system.uptimeS)} s`],
    ]),
    table(
      ["Sender", "Circuit breaker"],
      Object.entries(system.circuitBreakers).map(([id, state]) => [id, BREAKER[state] ?? state]),
      "No sender is alive.",
    ),
  );
}

export function showSystem(view) {
  const controller = new AbortController();
  const body = h(
    "div",
    { id: "system", "aria-busy": "true" },
    h("p", { class: "muted", text: "Loading…" }),
  );
  const updated = h("p", { class: "muted", "aria-live": "polite" });
  let timer = null;

  async function load() {
    try {
      const { signal } = controller;
      const [metrics, alerts] = await Promise.all([
        api("/api/dashboard/campaign-queue-metrics", { signal }),
        api("/api/dashboard/alerts", { signal }),
      ]);
      clear(body, render(metrics.metrics, alerts.alerts));
      body.setAttribute("aria-busy", "false");
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}, every ${REFRESH_MS / 1000} s.`;
    } catch (error) {
      if (error.name === "AbortError" || error.status === 401) return;
      showError(error);
    }
    timer = setTimeout(load, REFRESH_MS);
  }

  clear(view, h("h1", { text: "System" }), updated, body);
  load();
  return () => {
    controller.abort();
    clearTimeout(timer);
  };
}
