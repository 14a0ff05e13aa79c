"""Lag: the overview of every cluster, and each group's and JetStream consumer's history and status.

History and status are read from the samples (``streams.lag``), never from the brokers; their routes sit
beside the group and consumer pages they belong to (``console/views/kafka`` and ``console/views/nats``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import URLPattern

from console.apitypes import lag as api
from console.charts import history_chart
from console.openapi import described
from console.params import choice_param, datetime_param, int_param
from console.resources import ANYONE
from console.web import Ctx, Result, endpoint
from streams import adapters
from streams.errors import InvalidInput
from streams.lag.evaluate import KAFKA, NATS, Evaluation, evaluate_one
from streams.lag.history import RANGES, history
from streams.lag.overview import SORTS, last_status, overview
from streams.policies import CONSUMER_GROUPS, STREAMS, VIEW

DEFAULT_RANGE = "24h"
PAGE_RANGE = "6h"


@described(query=api.OverviewQuery, answers={200: api.Overview})
async def lag_data(ctx: Ctx) -> dict[str, Any]:
    limit = int_param(ctx.query, "limit", 10, minimum=1, maximum=100)
    sort = choice_param(ctx.query, "sort", SORTS, "status")
    assert limit is not None and sort is not None
    mine = ctx.policies
    sections = await overview([c for c in await adapters.aclusters() if mine.sees_cluster(c.slug)], limit, sort)
    for section in sections:
        # The ranking is the cluster's: a user who may see only some of it sees fewer rows.
        kind, key = (CONSUMER_GROUPS, "group") if section["kind"] == "kafka" else (STREAMS, "stream")
        section["items"] = [
            i for i in section.get("items") or [] if mine.may(VIEW, section["slug"], kind, str(i.get(key, "")))
        ]
    return {"clusters": sections, "limit": limit, "sort": sort}


# -- history and status of one group or consumer --------------------------------------------------------------------


def time_range(ctx: Ctx, default: str) -> tuple[datetime, datetime, str | None]:
    """``since``/``until`` (ISO-8601), or ``range`` (1h, 6h, 24h, 7d, 30d) back from ``until`` (default now)."""
    named = choice_param(ctx.query, "range", tuple(RANGES))
    until = datetime_param(ctx.query, "until") or datetime.now(UTC)
    since = datetime_param(ctx.query, "since")
    if since is None:
        since = until - RANGES[named or default]
    else:
        named = None
    if since >= until:
        raise InvalidInput("since must be before until.", field="since")
    return since, until, named


async def _history(ctx: Ctx, kind: str, stream: str, consumer: str) -> Result:
    since, until, named = time_range(ctx, PAGE_RANGE if not ctx.is_api else DEFAULT_RANGE)
    points = await sync_to_async(history)(ctx.slug, kind, stream, consumer, since, until)
    status = await sync_to_async(last_status)(ctx.slug, kind, stream, consumer)
    subject: dict[str, Any] = {"group": consumer} if kind == KAFKA else {"stream": stream, "consumer": consumer}
    data = {
        "cluster": ctx.slug,
        **subject,
        "since": since,
        "until": until,
        "points": [p.as_api() for p in points],
        "status": status,
        "sample_seconds": settings.LAG_SAMPLE_SECONDS,
        "rollup_seconds": settings.LAG_ROLLUP_SECONDS,
    }
    return Result(data, page=chart_context(kind, stream, consumer, points, since, until, named))


def chart_context(
    kind: str, stream: str, consumer: str, points: list[Any], since: datetime, until: datetime, named: str | None
) -> dict[str, Any]:
    return {
        "chart": history_chart(points, since, until),
        "chart_range": named,
        "chart_ranges": list(RANGES),
        "chart_kind": kind,
        "chart_stream": stream,
        "chart_consumer": consumer,
    }


@described(query=api.HistoryQuery, answers={200: api.History})
async def group_history(ctx: Ctx) -> Result:
    return await _history(ctx, KAFKA, "", ctx.args["group"])


@described(query=api.HistoryQuery, answers={200: api.History})
async def consumer_history(ctx: Ctx) -> Result:
    return await _history(ctx, NATS, ctx.args["stream"], ctx.args["name"])


async def _status(ctx: Ctx, kind: str, stream: str, consumer: str) -> dict[str, Any]:
    evaluation = await sync_to_async(evaluate_one)(ctx.slug, kind, stream, consumer)
    return {"cluster": ctx.slug, **evaluation.as_api()}


@described(answers={200: api.Status})
async def group_status(ctx: Ctx) -> dict[str, Any]:
    return await _status(ctx, KAFKA, "", ctx.args["group"])


@described(answers={200: api.Status})
async def consumer_status(ctx: Ctx) -> dict[str, Any]:
    return await _status(ctx, NATS, ctx.args["stream"], ctx.args["name"])


# -- what the group, consumer and list pages show beside their broker data ------------------------------------------


def _detail(slug: str, kind: str, stream: str, consumer: str, named: str | None) -> dict[str, Any]:
    evaluation: Evaluation = evaluate_one(slug, kind, stream, consumer)
    until = datetime.now(UTC)
    since = until - RANGES[named or PAGE_RANGE]
    points = history(slug, kind, stream, consumer, since, until)
    by_partition = {(p.topic, p.partition): p.status for p in evaluation.group.partitions}
    return {
        "lag_status": evaluation.as_api(),
        "partition_status": by_partition,
        **chart_context(kind, stream, consumer, points, since, until, named or PAGE_RANGE),
    }


async def group_page_context(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    named = choice_param(ctx.query, "range", tuple(RANGES))
    found = await sync_to_async(_detail)(ctx.slug, KAFKA, "", ctx.args["group"], named)
    statuses = found.pop("partition_status")
    # The partitions table is keyed by topic and partition; the template reads a status per row.
    owners = {m["member_id"]: m for m in data.get("members", [])}
    found["partition_rows"] = [
        {**p, "lag_state": statuses.get((p["topic"], p["partition"])), "owner": owners.get(p.get("member_id"))}
        for p in data.get("partitions", [])
    ]
    return found


async def consumer_page_context(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    named = choice_param(ctx.query, "range", tuple(RANGES))
    found = await sync_to_async(_detail)(ctx.slug, NATS, ctx.args["stream"], ctx.args["name"], named)
    found.pop("partition_status")
    return found


urlpatterns: list[URLPattern] = endpoint(
    "lag", name="lag", resource=ANYONE, template="lag/index.html", partial="lag/_clusters.html", get=lag_data
)
