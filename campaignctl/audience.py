"""The body of ``POST /api/campaigns`` from command-line options and a contacts CSV.

The CSV follows the API's import rules (services/api/csv_import.py): a header row with a
``phone`` column, ``name`` optional, every other column a contact variable. The import
endpoint answers counts, not contact ids, so the campaign lists the file's rows as
inline recipients; the API checks each phone and names the row it refuses.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from campaignctl.errors import CliError


def parse_variables(pairs: Iterable[str]) -> dict[str, str]:
    """``["first=Ana", "code=X=1"]`` -> ``{"first": "Ana", "code": "X=1"}``."""
    variables: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise ValueError(f"{pair!r} is not key=value")
        variables[key.strip()] = value
    return variables


def read_recipients(path: Path) -> list[dict[str, Any]]:
    """One ``{phone, name?, vars}`` per non-blank row that has a phone."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return _recipients(csv.reader(file), path)
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from error
    except (csv.Error, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path} as CSV: {error}") from error


def _recipients(rows: Iterable[list[str]], path: Path) -> list[dict[str, Any]]:
    rows = iter(rows)
    header = next((row for row in rows if any(cell.strip() for cell in row)), None)
    if header is None:
        raise CliError(f"{path} is empty: a header row naming 'phone' is needed")
    names = [cell.strip() for cell in header]
    lowered = [name.lower() for name in names]
    if "phone" not in lowered:
        raise CliError(f"{path}: the header row needs a 'phone' column")
    phone = lowered.index("phone")
    name = lowered.index("name") if "name" in lowered else None
    extra = {i: column for i, column in enumerate(names) if i not in (phone, name) and column}
    recipients = []
    for row in rows:
        cells = [cell.strip() for cell in row] + [""] * (len(names) - len(row))
        if not cells[phone]:
            continue  # the API's import skips these too; a campaign would refuse them
        recipient: dict[str, Any] = {
            "phone": cells[phone],
            "vars": {column: cells[i] for i, column in extra.items() if cells[i]},
        }
        if name is not None and cells[name]:
            recipient["name"] = cells[name]
        recipients.append(recipient)
    return recipients


def message_body(
    text: str | None, content_sid: str | None, variables: dict[str, str]
) -> str | dict[str, Any]:
    """A text message is a JSON string; a template is ``{contentSid, contentVariables}``."""
    if (text is None) == (content_sid is None):
        raise ValueError("give either --message or --content-sid")
    if text is not None:
        if variables:
            raise ValueError("--var sets template variables: it needs --content-sid")
        return text
    return {"contentSid": content_sid, "contentVariables": variables}


def campaign_body(
    name: str,
    message: str | dict[str, Any],
    contact_ids: Iterable[str],
    recipients: Iterable[dict[str, Any]],
    scheduled_at: str | None,
    priority: str,
    *,
    missing_vars: str | None = None,
) -> dict[str, Any]:
    """The JSON of a new campaign; the API validates it and names any field it refuses."""
    body: dict[str, Any] = {
        "name": name,
        "message": message,
        "contacts": [*contact_ids, *recipients],
        "priority": priority,
    }
    if scheduled_at is not None:
        body["scheduledAt"] = scheduled_at
    if missing_vars is not None:
        body["missingVars"] = missing_vars
    return body
