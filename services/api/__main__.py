"""``python -m services.api`` serves the API; ``... create-token <user>`` issues a token,
``list-tokens`` and ``revoke-token <id>`` manage them."""

from __future__ import annotations

import argparse
import signal

import uvicorn

from services.api.app import traced_app
from services.api.auth import DEFAULT_ROLE, ROLES
from services.api.settings import ApiSettings
from services.api.tokens_cli import run_create_token, run_list_tokens, run_revoke_token
from shared.gc_tuning import tune_garbage_collector
from shared.logging import configure_logging, register_secret
from shared.settings import load_settings
from shared.trace_sampling import check_sampler_settings
from shared.tracing import shutdown_tracing


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.api", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the API (the default)")
    token = commands.add_parser("create-token", help="print a new bearer token for a user")
    token.add_argument("user", help="the user the token acts as")
    token.add_argument("--role", choices=ROLES, default=DEFAULT_ROLE, help="what it may do")
    token.add_argument(
        "--expires-in", metavar="DURATION", help="e.g. 30d, 12h, 90m (default: never)"
    )
    commands.add_parser("list-tokens", help="list tokens (ids, never the tokens)")
    revoke = commands.add_parser("revoke-token", help="revoke an issued token by its id")
    revoke.add_argument("id", help="the token's id, as list-tokens shows it")
    return parser.parse_args(argv)


def serve(settings: ApiSettings) -> None:
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal against the
    # handler that was installed before it. An ignoring handler there turns a clean
    # shutdown into exit status 0 instead of death by signal.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    if settings.api_workers > 1:
        serve_workers(settings)
        return
    app = traced_app(settings)
    tune_garbage_collector()
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,  # keep our JSON-line logging
        access_log=False,
    )
    shutdown_tracing()


def serve_workers(settings: ApiSettings) -> None:
    """API_WORKERS processes on one socket, under uvicorn's supervisor (this process).

    Each worker builds its own app from the environment (services.api.app:worker_app).
    On SIGTERM or SIGINT the supervisor SIGTERMs the workers, each shuts down gracefully
    (open requests finish, event streams end), and once all have ended it returns: the
    process exits with status 0, as with one worker. A worker that dies is replaced.
    """
    uvicorn.run(
        "services.api.app:worker_app",
        factory=True,
        workers=settings.api_workers,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = load_settings(ApiSettings)
    for token in settings.static_tokens:
        register_secret(token)  # bearer tokens are as secret as the Twilio one
    configure_logging("api", settings.log_level)
    if args.command == "create-token":
        run_create_token(settings, args.user, args.role, args.expires_in)
    elif args.command == "list-tokens":
        run_list_tokens(settings)
    elif args.command == "revoke-token":
        run_revoke_token(settings, args.id)
    else:
        # Once here: with several workers, each would fail alone and be restarted.
        check_sampler_settings()
        serve(settings)


if __name__ == "__main__":
    main()
