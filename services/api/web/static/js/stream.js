// A campaign's server-sent events, read with fetch() so that the request carries the
// Authorization header (EventSource cannot send one) and a 401 or 404 can be shown.

import { authHeaders, campaignPath, errorFrom } from "./api.js";

// Over: nothing more can be done to the campaign (the API's allowedActions is empty
// only for a stopped, completed or failed one).
export const isOver = (status) => !status.allowedActions?.length;

// Events of a text/event-stream body: {type, data}; a `retry` field becomes {retry}.
async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
      if (line === "") {
        if (data.length) yield { type, data: data.join("\n") };
        type = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // a heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = text;
      else if (field === "data") data.push(text);
      else if (field === "retry" && /^\d+$/.test(text)) yield { retry: Number(text) };
    }
  }
}

const pause = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

// Calls onStatus with each queue-status body, and onState with "connecting", "live",
// "reconnecting" or "ended". Reconnects when the server closes a stream early (its
// lifetime is bounded, and it ends when the server stops). Returns a function that stops.
export function followCampaign(id, { onStatus, onState, onError }) {
  const controller = new AbortController();
  const { signal } = controller;
  (async () => {
    let retryMs = 1000;
    let last = null;
    onState("connecting");
    while (!signal.aborted) {
      try {
        const response = await fetch(campaignPath(id, "events"), {
          headers: { Accept: "text/event-stream", ...authHeaders() },
          cache: "no-store",
          signal,
        });
        if (!response.ok) {
          onError(await errorFrom(response));
          // 5xx (Redis or Kafka away) passes; a 401 or 404 will not.
          if (response.status < 500) {
            onState("ended");
            return;
          }
          throw new Error(`status ${response.status}`);
        }
        onState("live");
        for await (const event of readEvents(response.body)) {
          if (event.retry) retryMs = event.retry;
          else if (event.type === "status") {
            last = JSON.parse(event.data);
            onStatus(last);
          }
        }
        if (last && isOver(last.status)) {
          onState("ended");
          return;
        }
      } catch (error) {
        if (signal.aborted) return;
      }
      onState("reconnecting");
      await pause(retryMs, signal);
    }
  })();
  return () => controller.abort();
}
