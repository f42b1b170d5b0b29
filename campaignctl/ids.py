"""A campaign named by the first characters of its id, as the list shows it."""

from __future__ import annotations

import re

from campaignctl.client import ApiClient
from campaignctl.errors import ApiError, CliError

# What a prefix of a UUID may look like; anything else is taken as the whole id.
_PREFIX = re.compile(r"^[0-9a-fA-F-]{4,35}$")
PAGE_SIZE = 100
# The newest campaigns are where a prefix copied from `campaigns list` comes from.
MAX_PAGES = 10


def resolve_id(api: ApiClient, given: str) -> str:
    """The one campaign id starting with ``given``; ``given`` itself when it is an id.

    A full id costs nothing extra. A prefix is looked for among the newest 1,000
    campaigns; two matches are an error naming both, none leaves the id as given so
    that the API's own "not found" reports it.
    """
    if not _PREFIX.match(given):
        return given
    try:
        api.campaign(given)
        return given
    except ApiError as error:
        if error.status != 404:
            raise
    matches: list[str] = []
    for page in range(1, MAX_PAGES + 1):
        listing = api.campaigns(page, PAGE_SIZE)
        matches += [c["id"] for c in listing["campaigns"] if c["id"].startswith(given.lower())]
        if page * PAGE_SIZE >= listing["total"]:
            break
    if len(matches) > 1:
        shown = ", ".join(matches[:3])
        raise CliError(f"'{given}' starts more than one campaign id ({shown}): give more of it")
    return matches[0] if matches else given
