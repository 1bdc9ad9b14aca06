"""The OpenAPI document: valid, published in step with the code, covering every route."""

from __future__ import annotations

import json
import re
from pathlib import Path

from openapi_spec_validator import validate

from embedded_functions.app_loader import load_app
from orchestrators import registry
from starters.http.openapi import build_openapi

ROOT = Path(__file__).resolve().parent.parent


def test_the_document_is_valid_openapi() -> None:
    validate(build_openapi(registry))


def test_the_published_document_is_generated_from_the_code() -> None:
    published = json.loads((ROOT / "schemas" / "openapi.json").read_text())
    assert published == build_openapi(registry), "run `make schema`"


def test_every_http_route_of_the_app_is_documented() -> None:
    _, _, index = load_app(ROOT)
    paths = build_openapi(registry)["paths"]
    for info in index.of_type("httpTrigger"):
        route = "/" + re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", str(info.trigger["route"]))
        assert route in paths, route
        for method in info.trigger["methods"]:
            assert str(getattr(method, "value", method)).lower() in paths[route], (route, method)
