"""What the commands print: tables for people, one JSON document for scripts.

Tables and progress never carry meaning in colour alone: every number has a label.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from campaignctl.formatting import count, local_time, short_id
from campaignctl.progress import Snapshot

# No markup: names, messages and paths are the user's text, and "[b]" in one is not a style.
stdout = Console(highlight=False, markup=False)
# Progress and notes go to stderr, so stdout stays clean for a pipe or a file.
stderr = Console(stderr=True, highlight=False, markup=False)


def print_json(document: Any) -> None:
    """One JSON document on stdout, written as is (no wrapping, no markup)."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_error(line: str) -> None:
    # Plain write: a rich console would wrap a long message onto several lines.
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _pairs(title: str, rows: Iterable[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for label, value in rows:
        table.add_row(label, "-" if value is None else str(value))
    return table


def _message(message: Any) -> str:
    if isinstance(message, Mapping):
        return f"template {message.get('contentSid')}"
    return str(message)


def campaign_table(campaign: Mapping[str, Any], title: str = "Campaign") -> Table:
    return _pairs(
        title,
        [
            ("ID", campaign["id"]),
            ("Name", campaign.get("name")),
            ("Status", campaign["status"]),
            ("Priority", campaign["priority"]),
            ("Contacts", campaign["totalContacts"]),
            ("Message", _message(campaign["message"])),
            ("Created", local_time(campaign.get("createdAt"))),
            ("Scheduled", local_time(campaign.get("scheduledAt"))),
            ("Expires", local_time(campaign.get("expiresAt"))),
            ("Started", local_time(campaign.get("startedAt"))),
            ("Finished", local_time(campaign.get("finishedAt"))),
            ("From", campaign.get("fromNumber") or campaign.get("messagingServiceSid")),
            ("Send window", _window(campaign.get("sendWindow"))),
        ],
    )


def _window(window: Mapping[str, Any] | None) -> str | None:
    if not window:
        return None
    return f"{window['start']}-{window['end']} ({window.get('timezone', 'UTC')} by default)"


def campaigns_table(
    listing: Mapping[str, Any], statuses: Mapping[str, Mapping[str, Any]] | None = None
) -> Table:
    """One row a campaign: the short id any command accepts, counts from its queue status
    (``statuses`` by id; "-" where there is none) and times in the local zone."""
    shown = len(listing["campaigns"])
    table = Table(
        title=f"Campaigns ({shown} of {listing['total']}, page {listing['page']})",
        title_justify="left",
        # Nine columns: lines only under the header leave the values the width.
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    # An id never wraps (half an id cannot be copied); in a narrow terminal a time
    # breaks between its date and its hour, and a name folds.
    table.add_column("ID", no_wrap=True, min_width=8)
    table.add_column("Name", overflow="fold", min_width=4)
    table.add_column("Status", no_wrap=True)
    for column in ("Total", "Sent", "Failed", "Cancelled"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("Created", min_width=10)
    table.add_column("Finished", min_width=10)
    for campaign in listing["campaigns"]:
        status = (statuses or {}).get(campaign["id"])
        account = (status or {}).get("account") or {}
        metrics = (status or {}).get("metrics") or {}
        # A stopped campaign's record may lack its finish time; its queue status has it.
        finished = campaign.get("finishedAt") or metrics.get("finishedAt")
        table.add_row(
            short_id(campaign["id"]),
            campaign.get("name") or "-",
            campaign["status"],
            count(campaign["totalContacts"]),
            count(account.get("succeeded")),
            count(account.get("failed")),
            count(metrics.get("cancelled")),
            local_time(campaign.get("createdAt")),
            local_time(finished),
        )
    return table


def recipients_table(listing: Mapping[str, Any]) -> Table:
    shown = len(listing["recipients"])
    table = Table(title=f"Recipients ({shown} of {listing['total']}, page {listing['page']})")
    for column in ("#", "Phone", "Name", "State", "Code", "Why"):
        table.add_column(column, overflow="fold")
    for recipient in listing["recipients"]:
        code = recipient.get("errorCode")
        table.add_row(
            str(recipient["position"]),
            recipient["phone"],
            recipient.get("name") or "-",
            recipient["state"],
            f"{code} {recipient.get('errorMeaning') or ''}".strip() if code else "-",
            recipient.get("reason") or "-",
        )
    return table


# How the account names the stage of a failure, for people.
FAILURE_STAGES = {
    "at_send": "at send",
    "after_acceptance": "after acceptance",
    "undelivered": "undelivered",
}


def summary_table(snapshot: Snapshot, title: str = "Summary") -> Table:
    """How a campaign stands: the table `start --follow` ends with and `status` shows."""
    rows: list[tuple[str, Any]] = [
        ("Campaign", snapshot.campaign_id),
        ("Status", snapshot.status),
    ]
    if snapshot.summary:
        rows.append(("Recipients", snapshot.summary))
    rows += [
        ("Total", snapshot.total),
        ("Processed", f"{snapshot.processed} ({_percent(snapshot.processed, snapshot.total)})"),
        ("Sent", snapshot.sent),
        ("Delivered", snapshot.delivered),
        ("Failed", snapshot.failed),
        ("Skipped", snapshot.skipped),
        ("Cancelled", snapshot.cancelled),
        ("Expired", snapshot.expired),
        ("Waiting", snapshot.waiting),
        ("Success rate", f"{snapshot.success_rate}% (failures after acceptance count)"),
        ("Elapsed", f"{snapshot.elapsed_ms / 1000:.1f} s"),
        ("Rate", f"{snapshot.rate:.1f} msg/s over the sending time"),
    ]
    rows += [
        (
            f"Error {code if code is not None else '(no code)'} {FAILURE_STAGES.get(stage, stage)}",
            f"{count}  {meaning}".rstrip(),
        )
        for code, stage, count, meaning in snapshot.failures
    ]
    return _pairs(title, rows)


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole, 2):g}%" if whole else "0%"


def preview_table(answer: Mapping[str, Any]) -> Table:
    """The first messages as they would go out, then what recipients lack."""
    rows: list[tuple[str, Any]] = [("Recipients", answer["totalRecipients"])]
    for message in answer["messages"]:
        who = f"{message['phone']} ({message['name']})" if message.get("name") else message["phone"]
        text = message.get("text")
        if text is None:
            variables = ", ".join(
                f"{k}={v}" for k, v in (message.get("contentVariables") or {}).items()
            )
            text = f"template {message['contentSid']} {variables}".strip()
        rows.append((who, text))
    rows += [
        (f"Missing {{{{{gap['variable']}}}}}", f"{gap['count']} recipients")
        for gap in answer["missingVariables"]
    ]
    return _pairs("Preview", rows)


def import_table(report: Mapping[str, Any]) -> Table:
    rows: list[tuple[str, Any]] = [
        ("Imported", report["imported"]),
        ("Created", report["created"]),
        ("Updated", report["updated"]),
        ("Skipped", report["skipped"]),
    ]
    rows += [(f"Row {error['row']}", error["message"]) for error in report["errors"]]
    return _pairs("Contacts import", rows)


def metrics_tables(metrics: Mapping[str, Any], alerts: list[Mapping[str, Any]]) -> list[Table]:
    """The dashboard: campaigns by status, the processing queue, the system, alerts."""
    queue = metrics["campaignQueue"]
    processing = metrics["processingQueue"]
    system = metrics.get("system")
    campaigns = _pairs("Campaigns", [(key.capitalize(), value) for key, value in queue.items()])
    backlog = _pairs(
        "Processing queue",
        [
            ("In-flight batches", processing["inFlightBatches"]),
            ("Pending messages", processing["pendingMessages"]),
            *((f"Lag {topic}", lag) for topic, lag in processing["consumerLag"].items()),
        ],
    )
    totals = metrics.get("totals") or (system or {}).get("totals", {})
    rows = [("Sent (total)", totals.get("sent")), ("Failed (total)", totals.get("failed"))]
    if system is not None and system.get("kafka") is not None:  # admins' only
        rows = [
            ("Active senders", system["activeWorkers"]),
            ("Circuit breaker", system["circuitBreaker"]),
            ("Kafka connected", system["kafka"].get("connected")),
            ("Redis connected", system["redis"].get("connected")),
            *rows,
            ("Avg processing", _ms(system.get("averageProcessingTimeMs"))),
            ("Uptime", f"{system['uptimeS']:.0f} s"),
        ]
    state = _pairs("System", rows)
    alert_rows = [(alert["name"], alert["message"]) for alert in alerts]
    alert_rows = alert_rows or [("none", "no alert holds now")]
    return [campaigns, backlog, state, _pairs("Active alerts", alert_rows)]


def _ms(value: int | None) -> str | None:
    return None if value is None else f"{value / 1000:.1f} s"
