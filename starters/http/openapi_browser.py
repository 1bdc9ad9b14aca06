"""The OpenAPI document's parts for browsers: the dashboard's routes, and the 403 that
every state-changing operation answers to another site's page (cross_site.py)."""

from __future__ import annotations

from typing import Any

from ..dashboard.page import ASSETS
from .cross_site import STATE_CHANGING

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
CROSS_SITE_REFUSAL = {
    "description": (
        "A browser sent it from another site (Sec-Fetch-Site: cross-site, or an Origin "
        "that is not this host): `cross-site-request`."
    ),
    "content": _PROBLEM,
}


def dashboard_paths() -> dict[str, Any]:
    text = {"schema": {"type": "string"}}
    return {
        "/dashboard": {
            "get": {
                "operationId": "getDashboard",
                "summary": "The dashboard page; it holds no data and calls this API itself.",
                "security": [],
                "responses": {"200": {"description": "The page.", "content": {"text/html": text}}},
            }
        },
        "/dashboard/{asset}": {
            "get": {
                "operationId": "getDashboardAsset",
                "summary": "The dashboard's script or style sheet.",
                "security": [],
                "parameters": [
                    {
                        "name": "asset",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": sorted(ASSETS)},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The asset.",
                        "content": {media_type: text for media_type in sorted(ASSETS.values())},
                    },
                    "404": {"description": "No such asset.", "content": _PROBLEM},
                },
            }
        },
    }


def with_browser_parts(document: dict[str, Any]) -> dict[str, Any]:
    """The document with the dashboard's paths, and the 403 on every state-changing
    operation."""
    paths: dict[str, Any] = document["paths"]
    paths.update(dashboard_paths())
    for item in paths.values():
        for method, operation in item.items():
            if method.upper() in STATE_CHANGING:
                operation["responses"].setdefault("403", CROSS_SITE_REFUSAL)
    return document
