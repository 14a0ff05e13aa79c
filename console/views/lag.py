"""Lag and Workers: where each cluster's lag and the managed consumers are read."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern

from console.web import Ctx, endpoint
from streams import registry


async def lag_data(ctx: Ctx) -> dict[str, Any]:
    configs = await registry.aclusters()
    return {"clusters": [{"slug": c.slug, "kind": c.kind, "name": c.name} for c in configs]}


urlpatterns: list[URLPattern] = endpoint("lag", name="lag", template="lag/index.html", get=lag_data)
