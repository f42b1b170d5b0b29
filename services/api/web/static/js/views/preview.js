// Personalised messages as they would go out, and the variables some recipients lack:
// drawn from the API's preview answer (POST /api/campaigns/preview or .../{id}/preview).

import { counted, h } from "../dom.js";
import { messageText } from "./campaign-parts.js";

function messageOf(preview) {
  if (preview.text !== null && preview.text !== undefined) return preview.text;
  return messageText({ contentSid: preview.contentSid, contentVariables: preview.contentVariables });
}

export function previewParts(answer) {
  const missing = answer.missingVariables.map((gap) =>
    h("li", {
      "data-variable": gap.variable,
      text: `{{${gap.variable}}} is missing for ${counted(gap.count, "recipient")}: they would get it blank, or be skipped if you choose so.`,
    }),
  );
  return [
    missing.length
      ? h("ul", { class: "warning", id: "missing-variables" }, missing)
      : h("p", { class: "hint", text: "Every recipient has every variable the message uses." }),
    answer.messages.map((preview) =>
      h(
        "figure",
        { class: "preview-message", "data-position": preview.position },
        h("figcaption", {
          class: "hint",
          text: `To ${preview.phone}${preview.name ? ` (${preview.name})` : ""}`,
        }),
        h("blockquote", { class: "preview", text: messageOf(preview) }),
      ),
    ),
  ];
}
