"""python -m services.twilio_sandbox [--port N]: run the Twilio sandbox until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.twilio_sandbox.app import serve
from services.twilio_sandbox.settings import SandboxSettings
from shared.logging import configure_logging
from shared.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.twilio_sandbox")
    parser.add_argument("--port", type=int, help="listen port (overrides SANDBOX_PORT)")
    args = parser.parse_args(argv)
    overrides = {} if args.port is None else {"port": args.port}
    settings = load_settings(SandboxSettings, **overrides)
    configure_logging("twilio-sandbox", settings.log_level)
    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        # Typically the port is taken: one readable line, not a traceback.
        sys.stderr.write(f"cannot listen on {settings.host}:{settings.port}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
