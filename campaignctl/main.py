"""The ``campaignctl`` command: global options, login, contacts, metrics, campaigns.

Exit codes: 0 done, 1 an error from the API or on the way to it (one line on stderr),
2 a usage error (typer's own).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from campaignctl import campaigns, config, output
from campaignctl.client import ApiClient
from campaignctl.context import GlobalOptions, JsonOption, client, options, wants_json
from campaignctl.errors import CliError


class CliGroup(TyperGroup):
    """Turns every CliError a command raises into one stderr line and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            output.print_error(error.line())
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=CliGroup,
    name="campaignctl",
    help="WhatsApp campaigns from the command line, through the campaign queue's REST API.",
    no_args_is_help=True,
    # A traceback is for bugs; expected failures are CliErrors, shown as one line.
    pretty_exceptions_enable=False,
    add_completion=False,
)
contacts = typer.Typer(help="Your contact book.", no_args_is_help=True)
app.add_typer(contacts, name="contacts")
app.add_typer(campaigns.app, name="campaigns")


@app.callback()
def main(
    ctx: typer.Context,
    api_url: Annotated[
        str | None,
        typer.Option(envvar=config.ENV_API_URL, help="The API's base URL; default from login."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar=config.ENV_TOKEN, help="A bearer token; default from login."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    ctx.obj = GlobalOptions(api_url=api_url, token=token, json=json_output)


@app.command()
def login(
    ctx: typer.Context,
    api_url: Annotated[str | None, typer.Option(help="The API's base URL.")] = None,
    token: Annotated[
        str | None, typer.Option(help="Your bearer token (asked if not given).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check a token against the API and save it, with the URL, for later commands."""
    given = options(ctx)
    path = config.config_path()
    try:
        stored = config.load(path)
    except CliError:
        stored = {}  # login is how a broken file gets replaced
    url = config.resolve(api_url or given.api_url, None, os.environ, stored).api_url
    # The root --token also carries CAMPAIGNCTL_TOKEN; a stored token is not reused.
    secret = token or given.token or typer.prompt("Token", hide_input=True)
    credentials = config.Credentials(url, secret.strip())
    with ApiClient(credentials) as api:
        api.campaigns(page=1, limit=1)  # a 401 here ends the command: nothing is saved
    try:
        config.save(path, credentials.api_url, credentials.token or "")
    except OSError as error:
        raise CliError(f"cannot write the config file {path}: {error.strerror or error}") from error
    if wants_json(ctx, json_output):
        output.print_json({"apiUrl": credentials.api_url, "configFile": str(path)})
    else:
        output.stdout.print(f"Logged in to {credentials.api_url}; saved in {path}.")


@contacts.command("import")
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


@app.command()
def metrics(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """The queue dashboard: campaigns by status, backlog, senders and active alerts."""
    with client(ctx) as api:
        dashboard = api.dashboard()
        alerts = api.alerts()
    if wants_json(ctx, json_output):
        output.print_json({"metrics": dashboard, "alerts": alerts})
        return
    for table in output.metrics_tables(dashboard, alerts):
        output.stdout.print(table)
