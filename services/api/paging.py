"""The ``page`` and ``limit`` query parameters of every listing, and its paging fields.

No ``from __future__ import annotations`` here: FastAPI reads the parameters of
:func:`paging`'s dependency from its annotations, which name the closure's limits, and a
string annotation would be resolved in this module's globals, where they are not.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from services.api.schemas.base import MAX_PAGE


@dataclass(frozen=True, slots=True)
class Page:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def fields(self, total: int) -> dict[str, int]:
        """``total``, ``page`` and ``limit``: what every listing answers besides its items."""
        return {"total": total, "page": self.page, "limit": self.limit}


def paging(default_limit: int = 20, max_limit: int = 1000) -> Any:
    """The dependency of a listing's page: ``page: Annotated[Page, paging(...)]``."""

    async def get_page(
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        limit: Annotated[int, Query(ge=1, le=max_limit)] = default_limit,
    ) -> Page:
        return Page(page, limit)

    return Depends(get_page)
