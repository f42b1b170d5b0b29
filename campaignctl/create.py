"""``campaignctl campaigns create``: one option for each field of the API's create body
(services/api/schemas/campaigns.py, CampaignCreate).

The campaign is created first, with the CSV's rows inline; only then are the rows saved
to the contact book. A create the API refuses (a bad template, a past schedule) thus
leaves no contacts behind, as the web form does (static/js/views/create.js).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from campaignctl import output
from campaignctl.audience import campaign_body, message_body, parse_variables, read_recipients
from campaignctl.context import JsonOption, client, wants_json
from campaignctl.errors import CliError
from campaignctl.when import DATE_EXAMPLES, WINDOW_EXAMPLE, parse_moment, parse_window


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"


class MissingVars(StrEnum):
    error = "error"
    empty = "empty"
    skip = "skip"


AUDIENCE = "--contacts-csv, --contact or --list-id"
DATE_HELP = f"Local time unless an offset is given: {DATE_EXAMPLES}."


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="The campaign's name.", show_default=False)],
    message: Annotated[
        str | None, typer.Option(help="Text to send; may use {{name}} and contact vars.")
    ] = None,
    content_sid: Annotated[
        str | None, typer.Option(help="An approved template (HX...) instead of a text.")
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option(help="A template variable key=value (repeatable).")
    ] = None,
    contacts_csv: Annotated[
        Path | None,
        typer.Option(
            help="A CSV with a 'phone' column: every row is sent to, and saved to your "
            "contacts once the campaign is created."
        ),
    ] = None,
    contact: Annotated[
        list[str] | None, typer.Option(help="A stored contact's id (repeatable).")
    ] = None,
    list_id: Annotated[
        str | None,
        typer.Option(help="Send to one of your lists instead, of any size (its members now)."),
    ] = None,
    save_contacts: Annotated[
        bool,
        typer.Option(help="Save the CSV's rows to your contacts after the create."),
    ] = True,
    schedule: Annotated[
        str | None, typer.Option(help=f"Start by itself at this time. {DATE_HELP}")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(help=f"Send nothing after this time; the rest ends expired. {DATE_HELP}"),
    ] = None,
    priority: Annotated[Priority, typer.Option(help="Share of the rate.")] = Priority.normal,
    missing_vars: Annotated[
        MissingVars | None,
        typer.Option(
            help="A contact lacking a variable the message names: error (the API's "
            "default), empty (fill with nothing) or skip (leave the contact out)."
        ),
    ] = None,
    from_number: Annotated[
        str | None,
        typer.Option("--from", help="Send from this number (default: the API's own)."),
    ] = None,
    messaging_service: Annotated[
        str | None,
        typer.Option(help="Send from this Messaging Service's numbers (MG...), not --from."),
    ] = None,
    send_window: Annotated[
        str | None,
        typer.Option(
            help=f"Hours in which messages may go out, in each recipient's time zone: "
            f"{WINDOW_EXAMPLE} (an end before the start spans midnight)."
        ),
    ] = None,
    window_timezone: Annotated[
        str | None,
        typer.Option(
            help="With --send-window: the IANA zone (Europe/Madrid) for recipients whose "
            "own zone is unknown; UTC by default."
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Create a campaign: a draft to start later, or scheduled with --schedule."""
    try:
        text = message_body(message, content_sid, parse_variables(var or []))
    except ValueError as error:
        hint = "--message / --content-sid / --var"
        raise typer.BadParameter(str(error), param_hint=hint) from None
    if not (contacts_csv or contact or list_id):
        raise typer.BadParameter(f"give {AUDIENCE}", param_hint="contacts")
    if list_id and (contacts_csv or contact):
        raise typer.BadParameter("give --list-id alone, or contacts", param_hint="--list-id")
    extra = _extra_fields(
        list_id, expires, from_number, messaging_service, send_window, window_timezone
    )
    scheduled_at = _moment(schedule, "--schedule")
    # Read the file before anything is written: a file the CLI cannot parse sends nothing.
    recipients = read_recipients(contacts_csv) if contacts_csv else []
    body = campaign_body(
        name,
        text,
        contact or [],
        recipients,
        scheduled_at,
        priority.value,
        missing_vars=missing_vars.value if missing_vars else None,
    )
    if list_id:
        del body["contacts"]
    body |= extra
    with client(ctx) as api:
        campaign = api.create_campaign(body)
        if contacts_csv and save_contacts:
            _save_contacts(api, contacts_csv)
    if wants_json(ctx, json_output):
        output.print_json(campaign)
    else:
        output.stdout.print(output.campaign_table(campaign, "Campaign created"))


def _moment(text: str | None, option: str) -> str | None:
    if text is None:
        return None
    try:
        return parse_moment(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None


def _extra_fields(
    list_id: str | None,
    expires: str | None,
    from_number: str | None,
    messaging_service: str | None,
    send_window: str | None,
    window_timezone: str | None,
) -> dict[str, Any]:
    """The optional fields of the body, only those given: the API's defaults stay its own."""
    if from_number and messaging_service:
        both = "give --from or --messaging-service, not both"
        raise typer.BadParameter(both, param_hint="--from")
    if window_timezone and not send_window:
        raise typer.BadParameter("needs --send-window", param_hint="--window-timezone")
    fields: dict[str, Any] = {}
    if list_id:
        fields["listId"] = list_id
    if expires:
        fields["expiresAt"] = _moment(expires, "--expires")
    if from_number:
        fields["fromNumber"] = from_number
    if messaging_service:
        fields["messagingServiceSid"] = messaging_service
    if send_window:
        try:
            start, end = parse_window(send_window)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--send-window") from None
        fields["sendWindow"] = {"start": start, "end": end}
        if window_timezone:
            fields["sendWindow"]["timezone"] = window_timezone
    return fields


def _save_contacts(api: Any, csv_file: Path) -> None:
    """The campaign exists: a failure here loses no send, so it is a note, not an error."""
    try:
        report = api.import_contacts(csv_file)
    except CliError as error:
        output.stderr.print(f"Campaign created, but its contacts were not saved: {error}")
        return
    output.stderr.print(
        f"Saved {report['imported']} contacts from {csv_file} to your contacts "
        f"({report['skipped']} rows skipped)."
    )
