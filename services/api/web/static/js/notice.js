// The one line at the top of the page that says what went wrong (or right).

const notice = document.getElementById("notice");
let shownId = 0;

// Returns the notice's id, so that whoever showed it can take back only that one.
export function showNotice(text, kind = "error") {
  notice.textContent = kind === "error" ? `⚠ ${text}` : text;
  notice.dataset.kind = kind;
  notice.hidden = false;
  shownId += 1;
  return shownId;
}

export function showError(error) {
  if (error?.name === "AbortError") return 0;
  return showNotice(error?.message ?? String(error));
}

// Without an id, whatever is shown; with one, only if that notice is still the one shown.
export function clearNotice(id) {
  if (id !== undefined && id !== shownId) return;
  notice.hidden = true;
  notice.textContent = "";
}
