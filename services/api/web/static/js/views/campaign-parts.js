// The parts of the campaign page drawn from one queue-status body.

import { count, h, progressBar } from "../dom.js";

const FUNNEL = [
  ["accepted", "Accepted by Twilio"],
  ["sent", "Sent"],
  ["delivered", "Delivered"],
  ["read", "Read"],
  ["failed", "Failed after acceptance"],
  ["undelivered", "Undelivered"],
];

const DISPOSITIONS = { retryable: "Retryable", permanent: "Permanent" };

export function messageText(message) {
  if (typeof message === "string") return message;
  const variables = Object.entries(message.contentVariables ?? {});
  return `Template ${message.contentSid}${variables.length ? ` (${variables.map(([k, v]) => `${k}=${v}`).join(", ")})` : ""}`;
}

export function seconds(value) {
  if (!Number.isFinite(value)) return "—";
  return value < 90 ? `${Math.round(value)} s` : `${Math.round(value / 60)} min`;
}

export function funnelRows(status) {
  const { funnel, progress } = status;
  // Without the funnel (an older API) only what Twilio accepted and what failed are known.
  const values = funnel ?? { accepted: progress.success, failed: progress.failed };
  return FUNNEL.map(([key, label]) => {
    const value = values[key];
    const bar = progressBar(label);
    bar.set(value ?? 0, progress.total, key);
    return h(
      "li",
      { class: "funnel-row", "data-stage": key },
      h("span", { class: "funnel-label", text: label }),
      bar,
      h("span", {
        class: "funnel-count",
        text: value === undefined ? "not reported" : count(value),
      }),
    );
  });
}

const STAGES = {
  at_send: "At send",
  after_acceptance: "After acceptance",
  undelivered: "Undelivered",
};

// Failures at both stages, from the account; whether a retry may help a failure at send,
// from the stream (live.errorKinds): receipts' failures are never retried.
export function errorRows(status, kinds) {
  const failures = status.account?.failures ?? [];
  if (!failures.length)
    return [h("tr", {}, h("td", { colspan: 5, class: "muted", text: "No failures." }))];
  return failures.map((failure) => {
    const code = failure.code === null ? "—" : String(failure.code);
    const kind = failure.stage === "at_send" ? DISPOSITIONS[kinds[code]] : "Permanent";
    return h(
      "tr",
      { "data-code": code, "data-stage": failure.stage },
      h("th", { scope: "row", text: code }),
      h("td", { text: STAGES[failure.stage] ?? failure.stage }),
      h("td", { class: "number", text: count(failure.count) }),
      h("td", { text: failure.meaning }),
      h("td", { text: kind ?? "Unknown" }),
    );
  });
}

// Where each recipient ended, from the account: every recipient in one of these.
export function outcomeFacts(account, started) {
  const rate = started && account.processed ? `${account.successRate}%` : "—";
  return [
    ["Sent", count(account.succeeded)],
    ["Delivered", count(account.delivered)],
    ["Failed", count(account.failed)],
    ["Skipped", count(account.skipped)],
    ["Cancelled", count(account.cancelled)],
    ["Expired", count(account.expired)],
    ["Waiting", count(account.waiting)],
    [
      "Success rate",
      h("span", {
        id: "success-rate",
        title:
          "Sent (and not failed since) out of the processed recipients. A message that " +
          "Twilio accepted and then reported failed or undelivered counts as a failure.",
        text: rate,
      }),
    ],
  ];
}
