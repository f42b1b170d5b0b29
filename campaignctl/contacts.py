"""``campaignctl contacts ...``: import a CSV, list and search the contact book."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from campaignctl import output
from campaignctl.context import JsonOption, client, wants_json
from campaignctl.groups import FlagHelpGroup

app = typer.Typer(cls=FlagHelpGroup, help="Your contact book.", no_args_is_help=True)

PageOption = Annotated[int, typer.Option(min=1, help="Page number.")]
LimitOption = Annotated[int, typer.Option(min=1, max=100, help="Contacts per page.")]


@app.command("import")
def import_contacts(
    ctx: typer.Context,
    csv_file: Annotated[
        Path, typer.Argument(help="CSV with a header row naming 'phone'.", show_default=False)
    ],
    json_output: JsonOption = False,
) -> None:
    """Import contacts from a CSV: 'phone', optional 'name', other columns become vars."""
    with client(ctx) as api:
        report = api.import_contacts(csv_file)
    if wants_json(ctx, json_output):
        output.print_json(report)
    else:
        output.stdout.print(output.import_table(report))


@app.command("list")
def list_contacts(
    ctx: typer.Context,
    search: Annotated[
        str | None,
        typer.Option(help="Only phones starting with this, or names containing it (any case)."),
    ] = None,
    page: PageOption = 1,
    limit: LimitOption = 50,
    json_output: JsonOption = False,
) -> None:
    """Your contacts, in the order they were first added."""
    _show(ctx, search, page, limit, wants_json(ctx, json_output))


@app.command("search")
def search_contacts(
    ctx: typer.Context,
    text: Annotated[
        str,
        typer.Argument(help="A phone prefix (+34611...) or part of a name.", show_default=False),
    ],
    page: PageOption = 1,
    limit: LimitOption = 50,
    json_output: JsonOption = False,
) -> None:
    """Contacts whose phone starts with TEXT or whose name contains it."""
    _show(ctx, text, page, limit, wants_json(ctx, json_output))


def _show(ctx: typer.Context, search: str | None, page: int, limit: int, as_json: bool) -> None:
    with client(ctx) as api:
        listing = api.contacts(page, limit, search)
    if as_json:
        output.print_json(listing)
    else:
        output.stdout.print(contacts_table(listing, search))


def contacts_table(listing: Mapping[str, Any], search: str | None = None) -> Table:
    shown = len(listing["contacts"])
    matching = f" matching {search!r}" if search else ""
    title = f"Contacts{matching} ({shown} of {listing['total']}, page {listing['page']})"
    table = Table(title=title, title_justify="left")
    table.add_column("Phone", no_wrap=True)
    table.add_column("Name", overflow="fold")
    table.add_column("Variables", overflow="fold")
    table.add_column("ID", no_wrap=True)
    for contact in listing["contacts"]:
        variables = ", ".join(f"{k}={v}" for k, v in (contact.get("vars") or {}).items())
        table.add_row(contact["phone"], contact.get("name") or "-", variables or "-", contact["id"])
    return table
