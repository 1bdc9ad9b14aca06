"""Refuses state-changing requests a browser sent on behalf of another site.

The dashboard's key sits in the page's session storage, not in a cookie, so a forged form
post would not carry it; but with keys off (the local runtime, an anonymous route) any
page could still make a visitor's browser start, cancel or resubmit. Browsers say where a
request comes from (`Origin`, `Sec-Fetch-Site`) and a page cannot forge either; clients
that are not browsers (the command line, Event Grid, Service Bus tooling) send neither and
are let through.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .core import HttpAnswer, HttpRequest
from .problems import problem

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _authority(scheme: str, netloc: str) -> str | None:
    """host:port, the host in lower case and the scheme's default port made explicit;
    None when it is not an authority at all."""
    try:
        parts = urlsplit(f"{scheme}://{netloc.strip()}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{port or _DEFAULT_PORTS[scheme]}"


def _request_authority(req: HttpRequest, scheme: str) -> str | None:
    # The Host header is what the browser addressed; the URL the host rebuilt may not be
    # (a front end terminating TLS, a host that rewrites it).
    host = req.headers.get("Host") or urlsplit(req.url).netloc
    return _authority(scheme, host)


def _refused(detail: str) -> HttpAnswer:
    return problem(403, "Cross-site request refused", detail, kind="cross-site-request")


def cross_site_refusal(req: HttpRequest) -> HttpAnswer | None:
    """A 403 problem for a state-changing request from another site; None to go on."""
    if req.method.upper() not in STATE_CHANGING:
        return None
    site = (req.headers.get("Sec-Fetch-Site") or "").strip().lower()
    if site in ("same-origin", "none"):
        # The browser's own word, which a page cannot forge; it also holds behind a front
        # end that rewrites the Host header (Front Door, a reverse proxy).
        return None
    if site in ("cross-site", "same-site"):
        return _refused(f"Sec-Fetch-Site is {site}: another site's page sent this request")
    # A browser without Fetch Metadata (or an unknown value): compare Origin with Host.
    origin = req.headers.get("Origin")
    if origin is None:
        return None
    parts = urlsplit(origin.strip())
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return _refused(f"Origin {origin[:200]!r} is not this app's origin")
    claimed = _authority(parts.scheme, parts.netloc)
    if claimed is None or claimed != _request_authority(req, parts.scheme):
        return _refused(f"Origin {origin[:200]!r} does not match the host this request was sent to")
    return None
