"""The API's own description: ``/api/v1/openapi.json`` and ``/docs/api``, which renders it."""

from __future__ import annotations

from functools import cache
from typing import Any

from csp.decorators import csp
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path

from console import openapi
from console.openapi import described
from console.resources import EVERYONE
from console.web import Ctx, endpoint


@cache
def _document() -> dict[str, Any]:
    # The routes are fixed once the URLconf is loaded, so the document is too.
    return openapi.generate()


@described(answers={200: dict[str, Any]}, summary="This description (OpenAPI 3.1)")
async def openapi_document(ctx: Ctx) -> dict[str, Any]:
    return _document()


# Swagger UI, served from the package's files by this origin: its script, its stylesheet,
# the description it fetches, and the data: images of its stylesheet. Nothing inline.
@csp(
    {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
)
def docs_page(request: HttpRequest) -> HttpResponse:
    return render(request, "apidocs/swagger.html")


urlpatterns: list[URLPattern] = [
    *endpoint("openapi.json", name="openapi", resource=EVERYONE, get=openapi_document),
    path("docs/api", docs_page, name="docs-api"),
]
