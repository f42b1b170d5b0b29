// The REST API as the page uses it: the bearer token, JSON in and out, errors as ApiError.

import { plainMessage } from "./error-words.js";

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

// An answer other than 2xx. `field` and `errors` come from a 422 (services/api/errors.py):
// `errors` holds every problem with its location, e.g. ["body", "contacts", 3, "phone"].
// The message is for people (error-words.js); `status` and `body` keep the API's own.
export class ApiError extends Error {
  constructor(status, body) {
    const errors = Array.isArray(body?.detail) ? body.detail : [];
    super(plainMessage(status, body, errors));
    this.status = status;
    this.body = body;
    this.field = body?.field ?? null;
    this.errors = errors;
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
    throw new ApiError(0, null);
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

export const campaignPath = (id, action = "") =>
  `/api/campaigns/${encodeURIComponent(id)}${action ? `/${action}` : ""}`;
