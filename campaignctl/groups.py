"""The command groups: every CliError as one stderr line, and flags shown as flags."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from campaignctl import output
from campaignctl.errors import CliError


def _flags_without_metavar(command: Any, ctx: Any) -> None:
    """typer's help shows a bool flag as ``--json <bool>``, as if it took a value; an
    empty metavar leaves it as ``--json``, which is how it is typed."""
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


class FlagHelpGroup(TyperGroup):
    """A group whose commands' help shows flags without a value."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _flags_without_metavar(command, ctx)
        return command

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class CliGroup(FlagHelpGroup):
    """The root: turns every CliError a command raises into one stderr line, exit 1."""

    def invoke(self, ctx: Any) -> Any:
        # Read before the subcommand consumes them: --json after the command's name.
        json_asked = "--json" in (ctx.args or [])
        try:
            return super().invoke(ctx)
        except CliError as error:
            root = getattr(ctx.obj, "json", False)
            output.print_error(error.line(with_status=json_asked or root))
            raise typer.Exit(1) from None
