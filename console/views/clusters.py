"""Clusters overview, the per-kind landing pages, and the load balancer's health check."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from console.access import evaluator
from console.apitypes import clusters as api
from console.openapi import described
from console.params import bool_param
from console.resources import ANYONE
from console.web import Ctx, Result, endpoint, json_response
from streams import adapters, health, sharedcache
from streams.redact import display_servers
from streams.tasks import push_health

KIND_HOME = {"kafka": "kafka-topics", "nats": "nats-server"}


@described(query=api.ClustersQuery, answers={200: api.Clusters})
async def clusters_data(ctx: Ctx) -> Result:
    """The background check's answers; ``fresh=1`` (the page's "Check now") asks every broker now
    and pushes the answer to every open clusters page."""
    fresh = bool_param(ctx.query, "fresh")
    clusters = [c for c in await health.current(fresh=fresh) if ctx.policies.sees_cluster(str(c.get("slug", "")))]
    if fresh:
        await sync_to_async(push_health)(clusters)
    data = {"clusters": clusters, "degraded": await sync_to_async(sharedcache.degraded)()}
    return Result(data, page={"background": clusters, "max_age": health.max_age_seconds()})


async def kind_data(ctx: Ctx, kind: str) -> Result:
    configs = [c for c in await adapters.aclusters() if c.kind == kind and ctx.policies.sees_cluster(c.slug)]
    clusters = [{"slug": c.slug, "name": c.name, "servers": display_servers(c.servers)} for c in configs]
    data = {"kind": kind, "clusters": clusters}
    return Result(data, page={"home": KIND_HOME[kind]})


@described(answers={200: api.KindClusters})
async def kafka_data(ctx: Ctx) -> Result:
    return await kind_data(ctx, "kafka")


@described(answers={200: api.KindClusters})
async def nats_data(ctx: Ctx) -> Result:
    return await kind_data(ctx, "nats")


def kind_landing(kind: str) -> Any:
    """``/kafka`` or ``/nats``: straight to the only cluster of that kind, else a list."""

    async def view(request: HttpRequest) -> HttpResponse:
        mine = await evaluator(await request.auser())
        configs = [c for c in await adapters.aclusters() if c.kind == kind and mine.sees_cluster(c.slug)]
        if len(configs) == 1:
            return HttpResponseRedirect(reverse(KIND_HOME[kind], args=[configs[0].slug]))
        return HttpResponseRedirect(reverse(f"{kind}-clusters"))

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
        resource=ANYONE,
        template="clusters/overview.html",
        partial="clusters/_table.html",
        get=clusters_data,
    ),
    *endpoint(
        "clusters/kind/kafka", name="kafka-clusters", resource=ANYONE, template="clusters/kind.html", get=kafka_data
    ),
    *endpoint(
        "clusters/kind/nats", name="nats-clusters", resource=ANYONE, template="clusters/kind.html", get=nats_data
    ),
    path("kafka", kind_landing("kafka"), name="kafka-home"),
    path("nats", kind_landing("nats"), name="nats-home"),
    path("healthz", healthz, name="healthz"),
]
