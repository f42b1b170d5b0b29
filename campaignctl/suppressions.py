"""``campaignctl suppressions ...``: the numbers no campaign sends to (opt-outs).

The list is one per sending account, so it names other users' recipients: anyone may
add a number or look one up, only an admin may list or remove (see
services/api/routes/suppressions.py). A refusal says so in words, not as a status.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from campaignctl import output
from campaignctl.context import JsonOption, client, wants_json
from campaignctl.errors import ApiError
from campaignctl.formatting import local_time
from campaignctl.groups import FlagHelpGroup

app = typer.Typer(
    cls=FlagHelpGroup,
    help="Opted-out numbers: no campaign sends to them.",
    no_args_is_help=True,
)

Phone = Annotated[
    str, typer.Argument(help="The number, best in E.164 (+34611001000).", show_default=False)
]
REASONS = {
    "inbound_stop": "the recipient replied STOP",
    "error_21610": "Twilio reported the recipient unsubscribed (21610)",
    "api": "added by a user",
}


@contextmanager
def admin_only(what: str) -> Iterator[None]:
    """A 403 from these routes means the token lacks the admin role: say that."""
    try:
        yield
    except ApiError as error:
        if error.status == 403:
            raise ApiError(403, f"Only an admin can {what}") from None
        raise


@app.command("list")
def list_suppressions(
    ctx: typer.Context,
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Numbers per page.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """Every suppressed number, the most recently added first (admins only)."""
    with client(ctx) as api, admin_only("list opt-outs"):
        listing = api.suppressions(page, limit)
    if wants_json(ctx, json_output):
        output.print_json(listing)
    else:
        output.stdout.print(suppressions_table(listing))


@app.command("show")
def show_suppression(ctx: typer.Context, phone: Phone, json_output: JsonOption = False) -> None:
    """Whether one number is suppressed, and why (exit code 1 when it is not)."""
    with client(ctx) as api:
        entry = api.suppression(phone)
    if wants_json(ctx, json_output):
        output.print_json(entry)
    else:
        output.stdout.print(f"{entry['phone']} is suppressed: {_why(entry)}.")


@app.command("add")
def add_suppression(ctx: typer.Context, phone: Phone, json_output: JsonOption = False) -> None:
    """Stop every campaign from sending to a number (recorded as added by a user)."""
    with client(ctx) as api:
        entry = api.suppress(phone)
    if wants_json(ctx, json_output):
        output.print_json(entry)
    else:
        output.stdout.print(f"{entry['phone']} is suppressed: {_why(entry)}.")


@app.command("remove")
def remove_suppression(ctx: typer.Context, phone: Phone, json_output: JsonOption = False) -> None:
    """Let campaigns reach a number again (admins only; not one that replied STOP)."""
    with client(ctx) as api, admin_only("change opt-outs"):
        api.unsuppress(phone)
    if wants_json(ctx, json_output):
        output.print_json({"phone": phone, "removed": True})
    else:
        output.stdout.print(f"{phone} is no longer suppressed.")


def _why(entry: Mapping[str, Any]) -> str:
    reason = entry.get("reason", "")
    return f"{REASONS.get(reason, reason)}, since {local_time(entry.get('addedAt'))}"


def suppressions_table(listing: Mapping[str, Any]) -> Table:
    shown = len(listing["suppressions"])
    title = f"Suppressed numbers ({shown} of {listing['total']}, page {listing['page']})"
    table = Table(title=title, title_justify="left")
    table.add_column("Phone", no_wrap=True)
    table.add_column("Why", overflow="fold")
    table.add_column("Since", no_wrap=True)
    for entry in listing["suppressions"]:
        reason = entry.get("reason", "")
        table.add_row(entry["phone"], REASONS.get(reason, reason), local_time(entry.get("addedAt")))
    return table
