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

// Meanings come with the status (metrics.failureReasons); whether a retry may help, from
// the stream (live.errorKinds).
export function errorRows(status, kinds) {
  const meanings = Object.fromEntries(
    (status.metrics.failureReasons ?? []).map((r) => [String(r.code), r.meaning]),
  );
  const entries = Object.entries(status.metrics.errorsByCode).sort((a, b) => b[1] - a[1]);
  if (!entries.length)
    return [h("tr", {}, h("td", { colspan: 4, class: "muted", text: "No failures." }))];
  return entries.map(([code, n]) =>
    h(
      "tr",
      { "data-code": code },
      h("th", { scope: "row", text: code }),
      h("td", { class: "number", text: count(n) }),
      h("td", { text: meanings[code] ?? "—" }),
      h("td", { text: DISPOSITIONS[kinds[code]] ?? "Unknown" }),
    ),
  );
}
