"""campaignctl's tests reuse the end-to-end system fixtures: the CLI talks to a real api."""

from __future__ import annotations

from tests.e2e.conftest import make_system, sandbox_admin  # noqa: F401  (fixtures)
