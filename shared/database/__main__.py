"""``python -m shared.database migrate``: the schema to its newest revision, from
DATABASE_URL; ``current`` prints the revision the database is at."""

from __future__ import annotations

import argparse
import sys

from shared.database.migrate import current_revision, migrate
from shared.settings import Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.database", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the schema to the newest revision")
    commands.add_parser("current", help="print the schema's revision")
    args = parser.parse_args(argv)
    settings = load_settings(Settings)
    try:
        if args.command == "migrate":
            migrate(settings.database_url)
            print(f"schema at {current_revision(settings.database_url)}")
        else:
            print(current_revision(settings.database_url) or "empty")
    except (OSError, ConnectionError) as error:
        print(f"DATABASE_URL does not answer: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
