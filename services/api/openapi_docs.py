"""The API's documentation pages, /docs (Swagger UI) and /redoc (ReDoc), from this origin.

FastAPI's own pages load their code from a CDN: blank offline, and a third party runs
script beside a page that holds a bearer token. Here both run the vendored copies
(devstack/vendor.py), and a Content-Security-Policy of their own says so. It differs
from the web page's in what these two libraries need: Swagger UI starts from one inline
script (allowed by its hash, not by 'unsafe-inline'), and ReDoc's styled components
write <style> elements and start its search in a blob: worker.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor"
SWAGGER_JS = f"{VENDOR}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR}/swagger-ui/swagger-ui.css"
FAVICON = f"{VENDOR}/swagger-ui/favicon-32x32.png"
REDOC_JS = f"{VENDOR}/redoc/redoc.standalone.js"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_content_security_policy(html: str) -> str:
    """Same-origin everything, plus exactly the inline scripts ``html`` carries."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self'{' ' + hashes if hashes else ''}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(
        {
            "Content-Security-Policy": docs_content_security_policy(page.body.decode()),
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        }
    )
    return page


def docs_router(app: FastAPI) -> APIRouter:
    """/docs and /redoc for ``app``, whose own (CDN) pages must be off: docs_url=None,
    redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title
    router = APIRouter(include_in_schema=False)

    @router.api_route("/docs", methods=["GET", "HEAD"])
    async def swagger_ui() -> HTMLResponse:
        return _with_policy(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{title} - Swagger UI",
                swagger_js_url=SWAGGER_JS,
                swagger_css_url=SWAGGER_CSS,
                swagger_favicon_url=FAVICON,
                # The online validator badge would send the document to a third party.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @router.api_route("/redoc", methods=["GET", "HEAD"])
    async def redoc() -> HTMLResponse:
        return _with_policy(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{title} - ReDoc",
                redoc_js_url=REDOC_JS,
                redoc_favicon_url=FAVICON,
                with_google_fonts=False,
            )
        )

    return router
