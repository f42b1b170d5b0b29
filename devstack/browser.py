"""Chromium for the browser tests: Debian's package, installed when it is missing.

Playwright drives it through ``executable_path``: its own browser download needs
hosts this machine does not reach, and Debian's build is what the tests run on.
"""

from __future__ import annotations

from devstack.debian import ensure_package

# Without the background-networking flags Chromium keeps calling home, and on a closed
# network those connections are refused many at a time. No sandbox: the tests run as root.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def ensure_chromium() -> str:
    """The chromium binary, installing Debian's ``chromium`` package when it is missing."""
    return ensure_package("chromium", "chromium")
