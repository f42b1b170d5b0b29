// What a person sees before a start, a stop or a retry: the facts the decision rests on.

import { api, campaignPath } from "../api.js";
import { confirmAction } from "../confirm.js";
import { count, counted, h } from "../dom.js";
import { previewParts } from "./preview.js";

export async function confirmStart(id, status, signal) {
  const total = status?.account.total ?? 0;
  let preview = [];
  try {
    const answer = await api(campaignPath(id, "preview"), { method: "POST", json: { limit: 1 }, signal });
    preview = previewParts(answer);
  } catch (error) {
    if (error.name === "AbortError") return false;
    preview = h("p", { class: "hint", text: `No preview: ${error.message}` });
  }
  return confirmAction({
    title: "Start this campaign?",
    body: [
      h("p", { text: `It sends to ${counted(total, "recipient")}, paced by the rate limit.` }),
      preview,
    ],
    confirm: `Send to ${counted(total, "recipient")}`,
  });
}

export function confirmStop(status) {
  const waiting = status?.account.waiting ?? 0;
  return confirmAction({
    title: "Stop this campaign?",
    body: h("p", {
      text: `${counted(waiting, "recipient")} not yet sent to will be cancelled. A stopped campaign cannot be resumed.`,
    }),
    confirm: "Stop the campaign",
    danger: true,
  });
}

export function confirmRetry(status) {
  const failed = status?.retryableFailures ?? 0;
  return confirmAction({
    title: "Retry the failed messages?",
    body: h("p", {
      text: `A new run sends again to ${counted(failed, "recipient")} whose failure may pass on a second try. Sent, skipped and permanently failed recipients are left alone.`,
    }),
    confirm: `Retry ${count(failed)} failed`,
  });
}

export function confirmDelete(campaign) {
  return confirmAction({
    title: "Delete this campaign?",
    body: h("p", {
      text: `"${campaign?.name ?? ""}" and its audience are deleted. Nothing was sent from it.`,
    }),
    confirm: "Delete the campaign",
    danger: true,
  });
}
