"""Serves the dashboard's page and assets with headers that keep it to itself: a
Content-Security-Policy without inline script, no sniffing, no framing."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from html import escape
from importlib.resources import files
from urllib.parse import urlsplit

from ..http.core import HttpAnswer, HttpRequest
from ..http.problems import problem

# Everything from this app's origin, nothing inline, no framing, no form posts: the page
# only talks to the API through its script's fetch calls.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
ASSETS: Mapping[str, str] = {"app.js": "text/javascript", "app.css": "text/css"}
_ASSETS_PLACEHOLDER = "{{assets}}"


@cache
def _static(name: str) -> str:
    return (files(__package__ or __name__) / "static" / name).read_text(encoding="utf-8")


def dashboard_page(req: HttpRequest) -> HttpAnswer:
    """GET {prefix}/dashboard: the page, its assets linked by absolute path, so that it
    works under any route prefix, with or without a trailing slash."""
    here = urlsplit(req.url).path.rstrip("/") or "/dashboard"
    html = _static("index.html").replace(_ASSETS_PLACEHOLDER, escape(here, quote=True))
    return HttpAnswer(200, html.encode(), dict(SECURITY_HEADERS), "text/html")


def dashboard_asset(req: HttpRequest) -> HttpAnswer:
    """GET {prefix}/dashboard/{asset}: the script or the style sheet."""
    name = req.route_params.get("asset", "")
    media_type = ASSETS.get(name)
    if media_type is None:
        known = ", ".join(sorted(ASSETS))
        return problem(
            404, "Unknown asset", f"the dashboard has no {name!r}; it has {known}", kind="not-found"
        )
    return HttpAnswer(200, _static(name).encode(), dict(SECURITY_HEADERS), media_type)
