"""What every command shares: the global options, and an API client built from them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

import typer

from campaignctl import config
from campaignctl.client import ApiClient

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON document on stdout, for scripts (errors keep their HTTP status).",
    ),
]


@dataclass(frozen=True, slots=True)
class GlobalOptions:
    api_url: str | None = None
    token: str | None = None
    json: bool = False


def options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions()


def wants_json(ctx: typer.Context, flag: bool) -> bool:
    """``--json`` works before the command (``campaignctl --json ...``) and after it."""
    return flag or options(ctx).json


def credentials(ctx: typer.Context) -> config.Credentials:
    given = options(ctx)
    stored = config.load(config.config_path())
    return config.resolve(given.api_url, given.token, os.environ, stored)


def client(ctx: typer.Context) -> ApiClient:
    return ApiClient(credentials(ctx))
