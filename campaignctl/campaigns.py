"""``campaignctl campaigns ...``: create, start (and follow), control, status, list,
recipients, retry-failed, preview, test-send, clone, delete."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from campaignctl import output
from campaignctl.client import ApiClient
from campaignctl.context import JsonOption, client, wants_json
from campaignctl.create import create
from campaignctl.errors import CliError
from campaignctl.follow import follow
from campaignctl.formatting import duration
from campaignctl.groups import FlagHelpGroup
from campaignctl.ids import resolve_id
from campaignctl.progress import Snapshot
from shared.lifecycle import FAILED
from shared.store.recipient_states import RECIPIENT_STATES

app = typer.Typer(
    cls=FlagHelpGroup, help="Create, start, watch and control campaigns.", no_args_is_help=True
)

CampaignId = Annotated[
    str,
    typer.Argument(
        help="The campaign's id, or its first characters as `campaigns list` shows them.",
        show_default=False,
    ),
]
FollowOption = Annotated[
    bool, typer.Option("--follow", "-f", help="Show live progress until the campaign is over.")
]


app.command()(create)


@app.command()
def start(
    ctx: typer.Context,
    campaign_id: CampaignId,
    follow_progress: FollowOption = False,
    json_output: JsonOption = False,
) -> None:
    """Queue a draft or scheduled campaign for sending now."""
    as_json = wants_json(ctx, json_output)
    with client(ctx) as api:
        campaign_id = resolve_id(api, campaign_id)
        started = api.start(campaign_id)
        if follow_progress:
            _follow(api, campaign_id, as_json)
            return
    if as_json:
        output.print_json(started)
        return
    output.stdout.print(
        f"{started['message']}: {started['estimatedContacts']} contacts, "
        f"about {duration(started['estimatedTime'])} to send. "
        f"Follow it with: campaignctl campaigns status {campaign_id} --follow"
    )


@app.command()
def status(
    ctx: typer.Context,
    campaign_id: CampaignId,
    follow_progress: FollowOption = False,
    json_output: JsonOption = False,
) -> None:
    """A campaign's progress: counts, rate, failures by Twilio error code."""
    as_json = wants_json(ctx, json_output)
    with client(ctx) as api:
        campaign_id = resolve_id(api, campaign_id)
        if follow_progress:
            _follow(api, campaign_id, as_json)
            return
        queue_status = api.queue_status(campaign_id)
    if as_json:
        output.print_json(queue_status)
    else:
        output.stdout.print(
            output.summary_table(Snapshot.from_queue_status(queue_status), "Status")
        )


def _control(ctx: typer.Context, campaign_id: str, action: str, as_json: bool) -> None:
    with client(ctx) as api:
        campaign_id = resolve_id(api, campaign_id)
        answer = api.control(campaign_id, action)
    if as_json:
        output.print_json(answer)
    else:
        output.stdout.print(f"{answer['message']} (status: {answer['status']}).")


@app.command()
def pause(ctx: typer.Context, campaign_id: CampaignId, json_output: JsonOption = False) -> None:
    """Pause sending; nothing new goes out until it is resumed."""
    _control(ctx, campaign_id, "pause", wants_json(ctx, json_output))


@app.command()
def resume(ctx: typer.Context, campaign_id: CampaignId, json_output: JsonOption = False) -> None:
    """Resume a paused campaign with its next unsent contact."""
    _control(ctx, campaign_id, "resume", wants_json(ctx, json_output))


@app.command()
def stop(ctx: typer.Context, campaign_id: CampaignId, json_output: JsonOption = False) -> None:
    """Stop a campaign for good; its unsent contacts are cancelled."""
    _control(ctx, campaign_id, "stop", wants_json(ctx, json_output))


@app.command("list")
def list_campaigns(
    ctx: typer.Context,
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Campaigns per page.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """Your campaigns, newest first, with what each has sent so far."""
    as_json = wants_json(ctx, json_output)
    with client(ctx) as api:
        listing = api.campaigns(page, limit)
        # The list carries no counts: each campaign's account comes from its queue status.
        statuses = {} if as_json else _queue_statuses(api, listing["campaigns"])
    if as_json:
        output.print_json(listing)
    else:
        output.stdout.print(output.campaigns_table(listing, statuses))


def _queue_statuses(api: ApiClient, campaigns: list[dict]) -> dict[str, dict]:
    statuses = {}
    for campaign in campaigns:
        try:
            statuses[campaign["id"]] = api.queue_status(campaign["id"])
        except CliError:
            pass  # the row shows "-" for counts it could not read
    return statuses


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@app.command("retry-failed")
def retry_failed(
    ctx: typer.Context,
    campaign_id: CampaignId,
    yes: YesOption = False,
    follow_progress: FollowOption = False,
    json_output: JsonOption = False,
) -> None:
    """Send again, as a new run, to the recipients whose failure may pass on a second try."""
    as_json = wants_json(ctx, json_output)
    with client(ctx) as api:
        campaign_id = resolve_id(api, campaign_id)
        retryable = api.queue_status(campaign_id).get("retryableFailures", 0)
        if not retryable:
            raise CliError(f"campaign '{campaign_id}' has no failure a retry may help")
        question = f"Send again to {retryable} recipient{'s' if retryable != 1 else ''}?"
        if not yes and not typer.confirm(question, err=True):
            raise typer.Exit(1)
        run = api.campaign_action(campaign_id, "retry-failed")
        if follow_progress:
            _follow(api, run["campaign"]["id"], as_json)
            return
    if as_json:
        output.print_json(run)
    else:
        output.stdout.print(
            f"{run['message']}: {run['estimatedContacts']} contacts, run {run['campaign']['id']}."
        )


@app.command()
def preview(
    ctx: typer.Context,
    campaign_id: CampaignId,
    limit: Annotated[int, typer.Option(min=1, max=50, help="Messages to show.")] = 5,
    json_output: JsonOption = False,
) -> None:
    """The first messages as they would go out, and the variables recipients lack."""
    with client(ctx) as api:
        campaign_id = resolve_id(api, campaign_id)
        answer = api.campaign_action(campaign_id, "preview", {"limit": limit})
    if wants_json(ctx, json_output):
        output.print_json(answer)
    else:
        output.stdout.print(output.preview_table(answer))


@app.command("test-send")
def test_send(
    ctx: typer.Context,
    campaign_id: CampaignId,
    phones: Annotated[list[str], typer.Argument(help="1 to 5 numbers of your own.")],
    json_output: JsonOption = False,
) -> None:
    """Send the campaign's message to a few numbers; it never counts in the campaign."""
    with client(ctx) as api:
        campaign_id = resolve_id(api, campaign_id)
        answer = api.campaign_action(campaign_id, "test-send", {"phones": phones})
    if wants_json(ctx, json_output):
        output.print_json(answer)
    else:
        to = ", ".join(message["phone"] for message in answer["messages"])
        output.stdout.print(f"Test message queued to {to}.")


@app.command("clone")
def clone_campaign(
    ctx: typer.Context, campaign_id: CampaignId, json_output: JsonOption = False
) -> None:
    """A new draft with the campaign's message and audience (any campaign, finished too)."""
    with client(ctx) as api:
        campaign_id = resolve_id(api, campaign_id)
        copy = api.campaign_action(campaign_id, "clone")
    if wants_json(ctx, json_output):
        output.print_json(copy)
    else:
        output.stdout.print(output.campaign_table(copy, "Campaign cloned"))


@app.command("delete")
def delete_campaign(ctx: typer.Context, campaign_id: CampaignId, yes: YesOption = False) -> None:
    """Delete a draft or scheduled campaign and its audience."""
    if not yes and not typer.confirm(f"Delete campaign {campaign_id}?", err=True):
        raise typer.Exit(1)
    with client(ctx) as api:
        campaign_id = resolve_id(api, campaign_id)
        api.delete_campaign(campaign_id)
    output.stdout.print(f"Campaign {campaign_id} deleted.")


# The states the api names (shared/store/recipient_states.py), as typer's choices.
RecipientState = StrEnum("RecipientState", {state: state for state in RECIPIENT_STATES})


@app.command()
def recipients(
    ctx: typer.Context,
    campaign_id: CampaignId,
    state: Annotated[
        RecipientState | None,
        typer.Option(help="Only recipients in this state (failed: at send; undelivered: after)."),
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Write every one (of that state) to this CSV file instead, streamed.",
            dir_okay=False,
            writable=True,
        ),
    ] = None,
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Recipients per page.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """Who got what: each recipient in send order, and what became of it."""
    chosen = state.value if state is not None else None
    with client(ctx) as api:
        campaign_id = resolve_id(api, campaign_id)
        if csv_file is not None:
            written = api.export_recipients(campaign_id, chosen, csv_file)
            output.stdout.print(f"{written:,} recipients written to {csv_file}.")
            return
        listing = api.recipients(campaign_id, chosen, page, limit)
    if wants_json(ctx, json_output):
        output.print_json(listing)
    else:
        output.stdout.print(output.recipients_table(listing))


def _follow(api: ApiClient, campaign_id: str, as_json: bool) -> None:
    """Progress on stderr until the campaign is over, then its summary on stdout."""
    last = follow(api, campaign_id, output.stderr, show=not as_json)
    if as_json:
        output.print_json(last.source)
    else:
        output.stdout.print(output.summary_table(last))
    if last.status == FAILED:
        raise CliError(f"campaign '{campaign_id}' ended failed")
