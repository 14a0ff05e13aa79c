"""NATS micro services: every service with its versions, instances, endpoints and counts."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern

from console.apitypes import nats_stores as api
from console.openapi import described
from console.views.nats.common import KIND, tab
from console.web import Ctx, endpoint
from streams.nats import services


@described(answers={200: api.Services}, errors=[504])
async def services_data(ctx: Ctx) -> dict[str, Any]:
    found = await ctx.nats.with_client(services.services, what="listing services")
    return {"items": found}


urlpatterns: list[URLPattern] = [
    *endpoint(
        "clusters/<slug:cluster>/services",
        name="nats-services",
        kind=KIND,
        template="nats/services.html",
        page=tab("services"),
        get=services_data,
    ),
]
