// The one line at the top of the page that says what went wrong (or right).

const notice = document.getElementById("notice");

export function showNotice(text, kind = "error") {
  notice.textContent = kind === "error" ? `⚠ ${text}` : text;
  notice.dataset.kind = kind;
  notice.hidden = false;
}

export function showError(error) {
  if (error?.name === "AbortError") return;
  showNotice(error?.message ?? String(error));
}

export function clearNotice() {
  notice.hidden = true;
  notice.textContent = "";
}
