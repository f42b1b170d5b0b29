"""The ``campaignctl`` command: global options, login, metrics, and the groups:
campaigns, contacts, suppressions.

Exit codes: 0 done, 1 an error from the API or on the way to it (one line on stderr),
2 a usage error (typer's own).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from campaignctl import campaigns, config, contacts, output, suppressions
from campaignctl.client import ApiClient
from campaignctl.context import GlobalOptions, JsonOption, client, options, wants_json
from campaignctl.errors import CliError
from campaignctl.groups import CliGroup

app = typer.Typer(
    cls=CliGroup,
    name="campaignctl",
    help="WhatsApp campaigns from the command line, through the campaign queue's REST API.",
    no_args_is_help=True,
    # A traceback is for bugs; expected failures are CliErrors, shown as one line.
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(contacts.app, name="contacts")
app.add_typer(suppressions.app, name="suppressions")


@app.callback()
def main(
    ctx: typer.Context,
    api_url: Annotated[
        str | None,
        typer.Option(envvar=config.ENV_API_URL, help="The API's base URL; default from login."),
    ] = None,
    # Not typer's envvar: config.resolve reads CAMPAIGNCTL_TOKEN itself, so that a token
    # the API refuses is known to come from there (and the hint names it).
    token: Annotated[
        str | None,
        typer.Option(
            help="A bearer token; default CAMPAIGNCTL_TOKEN, then the one saved by login."
        ),
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
    # A stored token is not reused: login is for checking a new one.
    from_env = os.environ.get(config.ENV_TOKEN)
    secret = token or given.token or from_env or typer.prompt("Token", hide_input=True)
    source = config.FROM_ENV if secret == from_env and not (token or given.token) else config.GIVEN
    credentials = config.Credentials(url, secret.strip(), source)
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
