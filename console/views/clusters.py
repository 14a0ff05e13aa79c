"""Clusters overview, the per-kind landing pages, and the load balancer's health check."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path

from console.web import Ctx, endpoint, json_response
from streams import health, registry

KIND_HOME = {"kafka": "topics", "nats": "server"}


async def clusters_data(ctx: Ctx) -> dict[str, Any]:
    results = await health.check_all()
    return {"clusters": [r.as_api() for r in results]}


async def clusters_context(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    background = await sync_to_async(health.last_background_check)()
    return {"background": background}


async def kind_data(ctx: Ctx, kind: str) -> dict[str, Any]:
    configs = [c for c in await registry.aclusters() if c.kind == kind]
    return {"kind": kind, "clusters": [{"slug": c.slug, "name": c.name, "servers": list(c.servers)} for c in configs]}


async def kafka_data(ctx: Ctx) -> dict[str, Any]:
    return await kind_data(ctx, "kafka")


async def nats_data(ctx: Ctx) -> dict[str, Any]:
    return await kind_data(ctx, "nats")


async def kind_context(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    return {"home": KIND_HOME[data["kind"]]}


def kind_landing(kind: str) -> Any:
    """``/kafka`` or ``/nats``: straight to the only cluster of that kind, else a list."""

    async def view(request: HttpRequest) -> HttpResponse:
        configs = [c for c in await registry.aclusters() if c.kind == kind]
        if len(configs) == 1:
            return HttpResponseRedirect(f"/clusters/{configs[0].slug}/{KIND_HOME[kind]}")
        return HttpResponseRedirect(f"/clusters/kind/{kind}")

    view.__name__ = f"{kind}_landing"
    return view


@login_not_required
async def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers: the process serves and its database answers. Brokers do not count."""

    def database_ok() -> bool:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means unhealthy
            return False

    ok = await sync_to_async(database_ok)()
    return json_response({"status": "ok" if ok else "error", "database": ok}, 200 if ok else 503)


urlpatterns: list[URLPattern] = [
    *endpoint(
        "clusters",
        name="clusters",
        template="clusters/overview.html",
        partial="clusters/_table.html",
        get=clusters_data,
        extra_context=clusters_context,
    ),
    *endpoint(
        "clusters/kind/kafka",
        name="kafka-clusters",
        template="clusters/kind.html",
        get=kafka_data,
        extra_context=kind_context,
    ),
    *endpoint(
        "clusters/kind/nats",
        name="nats-clusters",
        template="clusters/kind.html",
        get=nats_data,
        extra_context=kind_context,
    ),
    path("kafka", kind_landing("kafka"), name="kafka-home"),
    path("nats", kind_landing("nats"), name="nats-home"),
    path("healthz", healthz, name="healthz"),
]
