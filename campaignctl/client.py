"""The REST API over HTTP: one method per endpoint the CLI uses, errors as CliError."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from campaignctl.config import FROM_ENV, FROM_FILE, GIVEN, Credentials
from campaignctl.errors import CliError, api_error

TIMEOUT_S = 30.0
# An event stream may be quiet for a while; the API sends a heartbeat every 15 s.
STREAM_READ_TIMEOUT_S = 60.0
CONTROL_ACTIONS = ("pause", "resume", "stop")


class StreamUnavailable(Exception):
    """This API has no event stream for the campaign (an older API), or it broke off."""


class ApiClient:
    def __init__(
        self,
        credentials: Credentials,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "campaignctl"}
        if credentials.token:
            headers["Authorization"] = f"Bearer {credentials.token}"
        self.api_url = credentials.api_url
        self._credentials, self._timeout_s, self._transport = credentials, timeout_s, transport
        self._token_source = credentials.token_source if credentials.token else None
        self._http = httpx.Client(
            base_url=credentials.api_url, headers=headers, timeout=timeout_s, transport=transport
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def sibling(self) -> ApiClient:
        """A client of its own for another thread: one never waits on the other's
        connection (--follow reads the event stream and polls at once)."""
        return ApiClient(self._credentials, self._timeout_s, self._transport)

    def request(self, method: str, path: str, **options: Any) -> Any:
        """The decoded JSON answer; an error status or no answer at all raises CliError."""
        try:
            response = self._http.request(method, path, **options)
        except httpx.TransportError as error:
            reason = str(error) or type(error).__name__
            raise CliError(f"cannot reach the API at {self.api_url}: {reason}") from error
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            raise self._error(response.status_code, body, method, path)
        if response.status_code == 204:  # done, nothing to say (a delete)
            return None
        if body is None:
            raise CliError(f"{method} {path}: the API answered {response.status_code} without JSON")
        return body

    def _error(self, status: int, body: Any, method: str, path: str) -> CliError:
        return api_error(status, body, method, path, unauthorised=self._unauthorised_hint())

    def _unauthorised_hint(self) -> str:
        """What to do about a refused token depends on where it came from: logging in
        again only helps when the saved one is stale or there is none."""
        where = f"the server at {self.api_url}"
        if self._token_source == GIVEN:
            return f"{where} refused the token just given; check it"
        if self._token_source == FROM_ENV:
            return f"{where} refused the token in CAMPAIGNCTL_TOKEN; check it"
        if self._token_source == FROM_FILE:
            return f"{where} refused the saved token; run 'campaignctl login' again"
        return "no token: run 'campaignctl login' or set CAMPAIGNCTL_TOKEN"

    def _refuse_stream(self, response: httpx.Response, method: str, path: str) -> None:
        body = _json_or_none(response)
        # A 404 naming the campaign is about the campaign; any other means no such route.
        about_campaign = isinstance(body, dict) and "campaignId" in body
        if response.status_code in (404, 405) and not about_campaign:
            raise StreamUnavailable(f"{path}: {response.status_code}")
        if response.status_code >= 500:
            # The API cannot read the live counts now (Redis away): polling reports it.
            raise StreamUnavailable(f"{path}: {response.status_code}")
        raise self._error(response.status_code, body, method, path)

    # Campaigns

    def create_campaign(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/api/campaigns", json=body)

    def campaigns(self, page: int, limit: int) -> dict[str, Any]:
        return self.request("GET", "/api/campaigns", params={"page": page, "limit": limit})

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/campaigns/{_segment(campaign_id)}")

    def start(self, campaign_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/campaigns/{_segment(campaign_id)}/start")

    def control(self, campaign_id: str, action: str) -> dict[str, Any]:
        if action not in CONTROL_ACTIONS:
            raise ValueError(f"unknown control action {action!r}")
        return self.request("POST", f"/api/campaigns/{_segment(campaign_id)}/queue-{action}")

    def campaign_action(
        self, campaign_id: str, action: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST to one of a campaign's actions: retry-failed, preview, test-send, clone."""
        path = f"/api/campaigns/{_segment(campaign_id)}/{action}"
        if body is None:
            return self.request("POST", path)
        return self.request("POST", path, json=body)

    def delete_campaign(self, campaign_id: str) -> None:
        self.request("DELETE", f"/api/campaigns/{_segment(campaign_id)}")

    def queue_status(self, campaign_id: str) -> dict[str, Any]:
        answer = self.request("GET", f"/api/campaigns/{_segment(campaign_id)}/queue-status")
        return answer["status"]

    def recipients(
        self, campaign_id: str, state: str | None, page: int, limit: int
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"page": page, "limit": limit}
        if state:
            params["state"] = state
        return self.request(
            "GET", f"/api/campaigns/{_segment(campaign_id)}/recipients", params=params
        )

    def export_recipients(self, campaign_id: str, state: str | None, target: Path) -> int:
        """Every recipient (or those in ``state``) as CSV into ``target``, streamed;
        returns how many rows were written, the header aside."""
        path = f"/api/campaigns/{_segment(campaign_id)}/recipients.csv"
        params = {"state": state} if state else {}
        timeout = httpx.Timeout(TIMEOUT_S, read=STREAM_READ_TIMEOUT_S)
        lines = 0
        try:
            with (
                self._http.stream("GET", path, params=params, timeout=timeout) as response,
                target.open("wb") as file,
            ):
                if response.is_error:
                    response.read()
                    raise self._error(response.status_code, _json_or_none(response), "GET", path)
                for chunk in response.iter_bytes():
                    file.write(chunk)
                    lines += chunk.count(b"\n")
        except httpx.TransportError as error:
            raise CliError(f"cannot reach the API at {self.api_url}: {error}") from error
        except OSError as error:
            raise CliError(f"cannot write {target}: {error.strerror or error}") from error
        return max(0, lines - 1)

    def event_lines(self, campaign_id: str) -> Iterator[str]:
        """The lines of the campaign's server-sent event stream, as they arrive."""
        path = f"/api/campaigns/{_segment(campaign_id)}/events"
        timeout = httpx.Timeout(TIMEOUT_S, read=STREAM_READ_TIMEOUT_S)
        headers = {"Accept": "text/event-stream"}
        try:
            with self._http.stream("GET", path, headers=headers, timeout=timeout) as response:
                if response.is_error:
                    response.read()
                    self._refuse_stream(response, "GET", path)
                if not response.headers.get("content-type", "").startswith("text/event-stream"):
                    raise StreamUnavailable(f"{path} is not an event stream")
                yield from response.iter_lines()
        except httpx.TransportError as error:
            # Polling takes over, and reports the API unreachable if it really is.
            raise StreamUnavailable(str(error)) from error

    # Contacts and the dashboard

    def import_contacts(self, csv_file: Path) -> dict[str, Any]:
        try:
            with csv_file.open("rb") as file:
                files = {"file": (csv_file.name, file, "text/csv")}
                return self.request("POST", "/api/contacts/import", files=files)
        except OSError as error:
            raise CliError(f"cannot read {csv_file}: {error.strerror or error}") from error

    def contacts(self, page: int, limit: int, search: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"page": page, "limit": limit}
        if search:
            params["search"] = search
        return self.request("GET", "/api/contacts", params=params)

    # Opt-outs: one list for the whole sending account (services/api/routes/suppressions.py)

    def suppressions(self, page: int, limit: int) -> dict[str, Any]:
        return self.request("GET", "/api/suppressions", params={"page": page, "limit": limit})

    def suppression(self, phone: str) -> dict[str, Any]:
        return self.request("GET", f"/api/suppressions/{_segment(phone)}")

    def suppress(self, phone: str) -> dict[str, Any]:
        return self.request("POST", "/api/suppressions", json={"phone": phone})

    def unsuppress(self, phone: str) -> None:
        self.request("DELETE", f"/api/suppressions/{_segment(phone)}")

    def dashboard(self) -> dict[str, Any]:
        return self.request("GET", "/api/dashboard/campaign-queue-metrics")["metrics"]

    def alerts(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/dashboard/alerts")["alerts"]


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _segment(value: str) -> str:
    """An id or phone as one path segment: a slash in it must not reach another route."""
    return quote(value, safe="")
