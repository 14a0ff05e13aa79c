"""The Lag page: the consumers furthest behind on every cluster."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern

from console.params import int_param
from console.web import Ctx, endpoint
from streams import registry
from streams.lag.overview import overview


async def lag_data(ctx: Ctx) -> dict[str, Any]:
    limit = int_param(ctx.query, "limit", 10, minimum=1, maximum=100)
    assert limit is not None
    sections = await overview(await registry.aclusters(), limit)
    return {"clusters": sections, "limit": limit}


urlpatterns: list[URLPattern] = endpoint(
    "lag", name="lag", template="lag/index.html", partial="lag/_clusters.html", get=lag_data
)
