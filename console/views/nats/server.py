"""The NATS server page (varz, JetStream usage) and its client connections (connz)."""

from __future__ import annotations

from typing import Any

from console.apitypes import nats as api
from console.openapi import described
from console.params import choice_param, page_params
from console.web import Ctx, Result

CONNECTION_SORTS = {
    "pending": "pending bytes",
    "subs": "subscriptions",
    "msgs_to": "messages sent to it",
    "msgs_from": "messages from it",
    "bytes_to": "bytes sent to it",
    "bytes_from": "bytes from it",
    "idle": "idle time",
    "cid": "connection id",
}


@described(answers={200: api.ServerOverview})
async def server_data(ctx: Ctx) -> dict[str, Any]:
    return await ctx.nats.server_overview()


@described(query=api.ConnectionsQuery, answers={200: api.Connections})
async def connections_data(ctx: Ctx) -> Result:
    sort = choice_param(ctx.query, "sort", tuple(CONNECTION_SORTS), "pending")
    assert sort is not None
    page, size = page_params(ctx.query, default_size=50, max_size=500)
    sorts = {"sorts": list(CONNECTION_SORTS.items())}
    if not ctx.config.monitor_url:
        data = {"items": [], "total": 0, "page": page, "page_size": size, "sort": sort, "monitoring": False}
        return Result(data, page=sorts)
    rows, total, slow = await ctx.nats.connections(sort=sort, offset=(page - 1) * size, limit=size)
    data = {
        "items": [r.as_api() for r in rows],
        "total": total,
        "page": page,
        "page_size": size,
        "sort": sort,
        "slow_consumers": slow,
        "monitoring": True,
    }
    return Result(data, page=sorts)
