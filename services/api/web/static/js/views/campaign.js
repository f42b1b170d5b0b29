// One campaign, live: progress, funnel, failures by error code, rate, and its controls.

import { api, campaignPath } from "../api.js";
import { clear, count, facts, h, progressBar, statusBadge, when } from "../dom.js";
import { clearNotice, showError, showNotice } from "../notice.js";
import { followCampaign, isOver } from "../stream.js";
import { campaignActions } from "./campaign-actions.js";
import { errorRows, funnelRows, messageText, outcomeFacts, seconds } from "./campaign-parts.js";
import { confirmRetry, confirmStart, confirmStop } from "./confirmations.js";
import { rateChart } from "./rate-chart.js";
import { recipientsSection } from "./recipients.js";

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
// Not started: nothing is live, and no rate or success rate means anything yet.
const notStarted = (status) => ["draft", "scheduled"].includes(status.status);
// How often the recipients table follows the counts while they move.
const RECIPIENTS_REFRESH_MS = 3_000;
// How often the chart reads the rate series while the counts move.
const CHART_REFRESH_MS = 2_000;
// After the end, receipts still move sent messages on: read them this often, while some
// message waits for one, for at most an hour.
const RECEIPTS_POLL_MS = 5_000;
const RECEIPTS_FOLLOW_MS = 3_600_000;

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
  const retry = h("button", { type: "button", id: "retry-failed", class: "secondary", hidden: true });
  const bar = progressBar("Campaign progress");
  const summary = h("p", { id: "summary", class: "summary" });
  const progressText = h("p", { id: "progress-count", class: "big-number" });
  const outcomes = h("div", { id: "outcomes" });
  const rateBar = progressBar("Current rate against the limit");
  const rateText = h("p", { id: "rate" });
  const chartBox = h("div", { id: "rate-chart", class: "rate-chart" });
  let chart = null;
  let chartShown = "";
  let chartAt = 0;
  const funnel = h("ol", { class: "funnel", id: "funnel" });
  const receipts = h("p", {
    class: "hint",
    hidden: true,
    text: "Delivery receipts may arrive after the campaign ends: this page shows them as they come.",
  });
  const errors = h("tbody", { id: "errors" });
  const details = h("div");
  const recipients = recipientsSection(id, controller.signal);
  const actions = campaignActions(id, { signal: controller.signal, getCampaign: () => campaign });
  let campaign = null;
  let recipientsShown = "";
  let recipientsAt = 0;

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

  // The stream's state, unless the campaign has not started: then nothing is live yet.
  let streamState = "connecting";
  function showLiveState() {
    const idle = status && notStarted(status);
    liveState.textContent = idle ? "○ Not started" : LIVE_STATES[streamState];
    liveState.dataset.state = idle ? "not-started" : streamState;
  }

  // The table follows the counts, at most every few seconds, and once more at the end.
  function refreshRecipients() {
    const shown = `${status.status} ${status.account.summary} ${status.funnel?.delivered}`;
    const due = Date.now() - recipientsAt >= RECIPIENTS_REFRESH_MS || isOver(status);
    if (shown === recipientsShown || !due) return;
    recipientsShown = shown;
    recipientsAt = Date.now();
    recipients.reload();
  }

  // The chart follows the counts too (receipts after the end included): at most every
  // few seconds, and always once after the last change.
  let chartTimer = null;
  const chartKey = () => `${status.account.processed} ${status.account.failed}`;
  async function loadChart() {
    chartShown = chartKey();
    chartAt = Date.now();
    try {
      const series = await api(campaignPath(id, "rate-series"), { signal: controller.signal });
      chart.update(series.points, series.bucketSeconds);
    } catch (error) {
      chartShown = "";
      showError(error);
    }
  }
  function refreshChart() {
    if (!chart || chartKey() === chartShown) return;
    clearTimeout(chartTimer);
    chartTimer = setTimeout(loadChart, Math.max(0, CHART_REFRESH_MS - (Date.now() - chartAt)));
  }

  // "Campaign resumed" says what a button just did; once the campaign has moved on
  // (completed, stopped elsewhere), it would be stale, so it goes.
  let actionNotice = null;
  function render(body) {
    if (actionNotice && !actionNotice.statuses.includes(body.status.status)) {
      clearNotice(actionNotice.id);
      actionNotice = null;
    }
    status = body.status;
    const { account } = status;
    const live = body.live ?? {};
    clear(badgeSlot, statusBadge(status.status));
    for (const action of Object.keys(CONTROLS)) {
      buttons[action].hidden = !status.allowedActions.includes(action);
      buttons[action].disabled = false;
    }
    actions.update(status);
    retry.hidden = !(isOver(status) && status.retryableFailures > 0);
    retry.disabled = false;
    retry.textContent = `Retry ${count(status.retryableFailures)} failed`;
    showLiveState();
    bar.set(account.processed, account.total, status.status);
    summary.textContent = account.summary;
    progressText.textContent = `${count(account.processed)} / ${count(account.total)} processed (${account.percentProcessed}%)`;
    progressText.dataset.processed = account.processed;
    clear(outcomes, facts(outcomeFacts(account, !notStarted(status))));
    // A paused campaign sends nothing, whatever the trailing window still counts.
    const rate = moving(status) ? (live.ratePerSecond ?? account.ratePerSecond) : 0;
    const limit = live.rateLimitPerSecond;
    rateBar.set(rate, limit ?? rate, status.status);
    rateText.textContent = notStarted(status)
      ? "Not sending yet."
      : `${rate} msg/s now` +
        (limit ? ` of a ${limit} msg/s limit shared by all campaigns` : "") +
        ` · ${account.ratePerSecond} msg/s over ${seconds(account.sendingSeconds)} of sending` +
        (moving(status) && account.waiting > 0 && rate > 0
          ? ` · about ${seconds(account.waiting / rate)} left`
          : "");
    refreshRecipients();
    refreshChart();
    clear(funnel, funnelRows(status));
    clear(errors, errorRows(status, live.errorKinds ?? {}));
    receipts.hidden = !(isOver(status) && account.sent > 0);
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

  async function confirmed(action) {
    if (action === "start") return confirmStart(id, status, controller.signal);
    if (action === "stop") return confirmStop(status);
    return true;
  }

  async function retryFailed() {
    if (!(await confirmRetry(status))) return;
    retry.disabled = true;
    try {
      const answer = await api(campaignPath(id, "retry-failed"), {
        method: "POST",
        signal: controller.signal,
      });
      // Shown on the new run's page: leaving this one clears the notice line.
      addEventListener("hashchange", () => showNotice(answer.message, "info"), { once: true });
      location.hash = `#/campaigns/${encodeURIComponent(answer.campaign.id)}`;
    } catch (error) {
      showError(error);
      retry.disabled = false;
    }
  }

  async function control(action) {
    if (!(await confirmed(action))) return;
    for (const button of Object.values(buttons)) button.disabled = true;
    try {
      const answer = await api(campaignPath(id, CONTROLS[action][1]), {
        method: "POST",
        signal: controller.signal,
      });
      const after = typeof answer.status === "string" ? answer.status : answer.campaign?.status;
      // Between the status it left and the one it reached, the notice still holds.
      actionNotice = { id: showNotice(answer.message, "info"), statuses: [status?.status, after] };
      // A stream that ended does not come back by itself.
      if (!stopStream) follow();
    } catch (error) {
      showError(error);
      if (status) render({ status });
    }
  }

  // The event stream ends with the campaign; receipts for its sent messages come later.
  let receiptsTimer = null;
  function followReceipts() {
    clearInterval(receiptsTimer);
    const until = Date.now() + RECEIPTS_FOLLOW_MS;
    receiptsTimer = setInterval(async () => {
      if (!status || status.account.sent === 0 || Date.now() > until) {
        clearInterval(receiptsTimer);
        return;
      }
      try {
        const body = await api(campaignPath(id, "queue-status"), { signal: controller.signal });
        render({ status: body.status });
      } catch (error) {
        if (error.name === "AbortError") clearInterval(receiptsTimer);
      }
    }, RECEIPTS_POLL_MS);
  }

  function follow() {
    stopStream?.();
    stopStream = followCampaign(id, {
      onStatus: render,
      onState: (state) => {
        streamState = state;
        showLiveState();
        if (state === "ended" && status && isOver(status)) {
          stopStream = null;
          followReceipts();
        }
      },
      onError: showError,
    });
  }

  for (const [action, button] of Object.entries(buttons)) {
    button.addEventListener("click", () => control(action));
  }
  retry.addEventListener("click", retryFailed);

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
      retry,
      actions.buttons,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "progress-heading" },
      h("h2", { id: "progress-heading", text: "Progress" }),
      bar,
      summary,
      progressText,
      outcomes,
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "rate-heading" },
      h("h2", { id: "rate-heading", text: "Rate" }),
      rateBar,
      rateText,
      chartBox,
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
      h("p", {
        class: "hint",
        text: "Both stages: refused when sent, and failed or undelivered after Twilio accepted the message.",
      }),
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
              ["Code", "Stage", "Contacts", "Meaning", "Kind"].map((t) =>
                h("th", { scope: "col", text: t }),
              ),
            ),
          ),
          errors,
        ),
      ),
    ),
    recipients,
    h(
      "section",
      { class: "card", "aria-labelledby": "details-heading" },
      h("h2", { id: "details-heading", text: "Details" }),
      details,
      actions.testForm,
    ),
  );

  chart = rateChart(chartBox);
  api(campaignPath(id), { signal: controller.signal }).then(
    (found) => {
      // Left already (an answer that was on its way): draw nothing over the next view.
      if (controller.signal.aborted) return;
      campaign = found;
      title.textContent = campaign.name ?? campaign.id;
      document.title = `${title.textContent} · Campaign queue`;
      renderDetails();
      follow();
    },
    (error) => {
      if (error.name === "AbortError" || controller.signal.aborted) return;
      showError(error);
      // Nothing to draw: no empty cards under the heading, only the way back.
      clear(
        view,
        h("p", { class: "crumbs" }, h("a", { href: "#/", text: "← Campaigns" })),
        h("h1", {
          id: "campaign-name",
          text: error.status === 404 ? "Campaign not found" : "Campaign unavailable",
        }),
        h("p", {
          class: "hint",
          text:
            error.status === 404
              ? `No campaign of yours has the id ${id}.`
              : "It could not be loaded; try again in a moment.",
        }),
      );
    },
  );

  return () => {
    controller.abort();
    clearInterval(receiptsTimer);
    clearTimeout(chartTimer);
    chart?.destroy();
    stopStream?.();
    document.title = "Campaign queue";
  };
}
