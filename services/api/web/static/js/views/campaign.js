// One campaign, live: progress, funnel, failures by error code, rate, and its controls.

import { api, campaignPath } from "../api.js";
import { clear, count, facts, h, progressBar, statusBadge, when } from "../dom.js";
import { showError, showNotice } from "../notice.js";
import { followCampaign, isOver } from "../stream.js";
import { errorRows, funnelRows, messageText, seconds } from "./campaign-parts.js";

// action, as the API's allowedActions names it -> [button label, the API's path]. Which
// button shows is the API's to say: the page keeps no copy of what each status allows.
const CONTROLS = {
  start: ["Start", "start"],
  pause: ["Pause", "queue-pause"],
  resume: ["Resume", "queue-resume"],
  stop: ["Stop", "queue-stop"],
};

const LIVE_STATES = {
  connecting: "◌ Connecting…",
  live: "● Live",
  reconnecting: "◌ Reconnecting…",
  ended: "○ Final",
};

// On its way (queued, sending, or held by its tier): what the server lets a person pause.
const moving = (status) => (status.allowedActions ?? []).includes("pause");

export function showCampaign(view, id) {
  const controller = new AbortController();
  let stopStream = null;
  let status = null;

  const title = h("h1", { id: "campaign-name", text: "Campaign" });
  const badgeSlot = h("span", { id: "campaign-status" });
  const liveState = h("span", { id: "live-state", class: "live", "aria-live": "polite" });
  const breaker = h("p", { id: "breaker", class: "warning", hidden: true });
  const buttons = Object.fromEntries(
    Object.entries(CONTROLS).map(([action, [label]]) => [
      action,
      h("button", { type: "button", "data-action": action, text: label, hidden: true }),
    ]),
  );
  const bar = progressBar("Campaign progress");
  const progressText = h("p", { id: "progress-count", class: "big-number" });
  const outcomes = h("div", { id: "outcomes" });
  const rateBar = progressBar("Current rate against the limit");
  const rateText = h("p", { id: "rate" });
  const funnel = h("ol", { class: "funnel", id: "funnel" });
  const receipts = h("p", {
    class: "hint",
    hidden: true,
    text: "Delivery receipts may arrive after the campaign ends: reload the page to see them.",
  });
  const errors = h("tbody", { id: "errors" });
  const details = h("div");
  let campaign = null;

  // The record as loaded, with the times the stream brings since.
  function renderDetails() {
    if (!campaign) return;
    clear(
      details,
      facts([
        ["Id", campaign.id],
        ["Priority", campaign.priority],
        ["Message", messageText(campaign.message)],
        ["Contacts", count(campaign.totalContacts)],
        ["Created", when(campaign.createdAt)],
        ["Scheduled", when(campaign.scheduledAt)],
        ["Expires", when(campaign.expiresAt)],
        ["Started", when(status?.metrics.startedAt ?? campaign.startedAt)],
        ["Finished", when(status?.metrics.finishedAt ?? campaign.finishedAt)],
      ]),
    );
  }

  function render(body) {
    status = body.status;
    const { progress, metrics } = status;
    const live = body.live ?? {};
    clear(badgeSlot, statusBadge(status.status));
    for (const action of Object.keys(CONTROLS)) {
      buttons[action].hidden = !status.allowedActions.includes(action);
      buttons[action].disabled = false;
    }
    bar.set(progress.processed, progress.total, status.status);
    progressText.textContent = `${count(progress.processed)} / ${count(progress.total)} processed (${progress.percentage}%)`;
    progressText.dataset.processed = progress.processed;
    clear(
      outcomes,
      facts([
        ["Accepted", count(progress.success)],
        ["Failed", count(progress.failed)],
        ["Skipped", count(metrics.skipped)],
        ["Cancelled", count(metrics.cancelled)],
        ["Expired", count(metrics.expired)],
        ["Success rate", `${metrics.successRate}%`],
      ]),
    );
    // A paused campaign sends nothing, whatever the trailing window still counts.
    const rate = moving(status) ? (live.ratePerSecond ?? metrics.messagesPerSecond) : 0;
    const limit = live.rateLimitPerSecond;
    rateBar.set(rate, limit ?? rate, status.status);
    const left = progress.total - progress.processed;
    rateText.textContent =
      `${rate} msg/s now` +
      (limit ? ` of a ${limit} msg/s limit shared by all campaigns` : "") +
      ` · ${metrics.messagesPerSecond} msg/s over the run` +
      (moving(status) && left > 0 && rate > 0
        ? ` · about ${seconds(left / rate)} left`
        : "");
    clear(funnel, funnelRows(status));
    clear(errors, errorRows(status, live.errorKinds ?? {}));
    receipts.hidden = !isOver(status);
    renderDetails();
    const warnings = [];
    if (status.circuitBreaker === "open")
      warnings.push("⚠ Twilio circuit breaker open: sends wait until Twilio recovers.");
    if (status.throttledUntil)
      warnings.push(
        `⏳ Throttled by the sender's messaging tier until ${when(status.throttledUntil)}.`,
      );
    breaker.hidden = !warnings.length;
    breaker.textContent = warnings.join(" ");
  }

  async function control(action) {
    for (const button of Object.values(buttons)) button.disabled = true;
    try {
      const answer = await api(campaignPath(id, CONTROLS[action][1]), {
        method: "POST",
        signal: controller.signal,
      });
      showNotice(answer.message, "info");
      // A stream that ended does not come back by itself.
      if (!stopStream) follow();
    } catch (error) {
      showError(error);
      if (status) render({ status });
    }
  }

  function follow() {
    stopStream?.();
    stopStream = followCampaign(id, {
      onStatus: render,
      onState: (state) => {
        liveState.textContent = LIVE_STATES[state];
        liveState.dataset.state = state;
        if (state === "ended" && status && isOver(status)) stopStream = null;
      },
      onError: showError,
    });
  }

  for (const [action, button] of Object.entries(buttons)) {
    button.addEventListener("click", () => control(action));
  }

  clear(
    view,
    h("p", { class: "crumbs" }, h("a", { href: "#/", text: "← Campaigns" })),
    h("div", { class: "heading" }, title, badgeSlot),
    liveState,
    breaker,
    h(
      "div",
      { class: "actions controls", role: "group", "aria-label": "Controls" },
      Object.values(buttons),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "progress-heading" },
      h("h2", { id: "progress-heading", text: "Progress" }),
      bar,
      progressText,
      outcomes,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "rate-heading" },
      h("h2", { id: "rate-heading", text: "Rate" }),
      rateBar,
      rateText,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "funnel-heading" },
      h("h2", { id: "funnel-heading", text: "Delivery funnel" }),
      funnel,
      receipts,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "errors-heading" },
      h("h2", { id: "errors-heading", text: "Failures by Twilio error code" }),
      h(
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
              ["Code", "Contacts", "Meaning", "Kind"].map((t) =>
                h("th", { scope: "col", text: t }),
              ),
            ),
          ),
          errors,
        ),
      ),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "details-heading" },
      h("h2", { id: "details-heading", text: "Details" }),
      details,
    ),
  );

  api(campaignPath(id), { signal: controller.signal }).then(
    (found) => {
      campaign = found;
      title.textContent = campaign.name ?? campaign.id;
      document.title = `${title.textContent} · Campaign queue`;
      renderDetails();
      follow();
    },
    (error) => {
      showError(error);
      title.textContent = error.status === 404 ? "Campaign not found" : "Campaign unavailable";
      liveState.textContent = "";
    },
  );

  return () => {
    controller.abort();
    stopStream?.();
    document.title = "Campaign queue";
  };
}
