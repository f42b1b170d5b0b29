// Signing in: a bearer token (from API_TOKENS or `python -m services.api create-token`),
// checked against the API before it is kept.

import { ApiError, token } from "../api.js";
import { clear, h } from "../dom.js";
import { clearNotice } from "../notice.js";

async function check(candidate) {
  let response;
  try {
    response = await fetch("/api/campaigns?limit=1", {
      headers: { Accept: "application/json", Authorization: `Bearer ${candidate}` },
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, null);
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
}

export function showSignIn(view, onSignedIn) {
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "current-password",
    "aria-describedby": "token-error",
  });
  const remember = h("input", { id: "remember", type: "checkbox" });
  const problem = h("p", { id: "token-error", class: "field-error", "aria-live": "polite" });
  const submit = h("button", { type: "submit", text: "Sign in" });
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    h("h1", { text: "Sign in" }),
    h("div", { class: "field" }, h("label", { for: "token", text: "API token" }), input, problem),
    h(
      "div",
      { class: "check" },
      remember,
      h("label", { for: "remember", text: "Remember on this device" }),
    ),
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.textContent = "";
    const candidate = input.value.trim();
    if (!candidate) {
      problem.textContent = "Enter your API token.";
      input.focus();
      return;
    }
    submit.disabled = true;
    try {
      await check(candidate);
      token.set(candidate, remember.checked);
      clearNotice();
      onSignedIn();
    } catch (error) {
      // Said once, beside the field it is about.
      problem.textContent = error.message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  clear(view, form);
  input.focus();
  return null;
}
