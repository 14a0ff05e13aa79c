"""Managed consumer workers."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern

from console.web import Ctx, endpoint


async def workers_data(ctx: Ctx) -> dict[str, Any]:
    # Managed consumers are defined in the database once the worker model exists;
    # until then the list is honestly empty.
    return {"items": [], "total": 0}


urlpatterns: list[URLPattern] = endpoint("workers", name="workers", template="workers/index.html", get=workers_data)
