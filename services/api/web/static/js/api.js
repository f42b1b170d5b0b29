// The REST API as the page uses it: the bearer token, JSON in and out, errors as ApiError.

const TOKEN_KEY = "campaign-queue.token";

export const token = {
  get() {
    return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY);
  },
  // sessionStorage unless asked to remember: a shared computer forgets the token
  // when the tab closes.
  set(value, remember) {
    this.clear();
    (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, value);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
  },
};

const STATUS_NAMES = {
  0: "Network error",
  401: "Not signed in",
  403: "Forbidden",
  404: "Not found",
  409: "Not possible now",
  422: "Invalid input",
  503: "Service unavailable",
};

// An answer other than 2xx. `field` and `errors` come from a 422 (services/api/errors.py):
// `errors` holds every problem with its location, e.g. ["body", "contacts", 3, "phone"].
export class ApiError extends Error {
  constructor(status, body) {
    const text =
      body?.message || (typeof body?.detail === "string" ? body.detail : "") || "request failed";
    super(`${status || ""} ${STATUS_NAMES[status] ?? "Error"}: ${text}`.trim());
    this.status = status;
    this.body = body;
    this.field = body?.field ?? null;
    this.errors = Array.isArray(body?.detail) ? body.detail : [];
  }
}

export function authHeaders() {
  const value = token.get();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

export async function errorFrom(response) {
  const body = await response.json().catch(() => null);
  const error = new ApiError(response.status, body);
  if (response.status === 401) {
    // Anywhere on the page: the token is gone or wrong, so back to signing in.
    dispatchEvent(new CustomEvent("unauthorized", { detail: error }));
  }
  return error;
}

export async function api(path, { method = "GET", json, form, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { message: "the server cannot be reached" });
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

export const campaignPath = (id, action = "") =>
  `/api/campaigns/${encodeURIComponent(id)}${action ? `/${action}` : ""}`;
