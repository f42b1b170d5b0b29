"""The web dashboard: one HTML page and its static assets, served as they are on disk.

Plain HTML, CSS and JavaScript modules: nothing is built at run time or before it.
The page calls the same REST API as any client, with a bearer token it keeps in the
browser's storage.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parents[1] / "web"

# Everything the page loads comes from this origin; scripts never come from markup.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
# Revalidated on every load (a 304 when unchanged): a new release shows at once.
REVALIDATE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)
_static = StaticFiles(directory=WEB_DIR / "static")


@router.api_route("/", methods=["GET", "HEAD"])
async def dashboard_page() -> FileResponse:
    """The dashboard's single page; the part after ``#`` picks the view."""
    return FileResponse(
        WEB_DIR / "index.html",
        media_type="text/html",
        headers={
            **REVALIDATE,
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Referrer-Policy": "no-referrer",
        },
    )


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
async def dashboard_asset(path: str, request: Request) -> Response:
    """A file under web/static; 404 for anything else, paths leaving the folder included."""
    response = await _static.get_response(path, request.scope)
    response.headers.update(REVALIDATE)
    return response
