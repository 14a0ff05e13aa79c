"""Kafka brokers: the list (leaders, replicas, controllers) and one broker with its configs."""

from __future__ import annotations

from typing import Any

from console.apitypes import kafka as api
from console.openapi import described
from console.params import str_param
from console.web import Ctx, Result
from streams.kafka import brokers
from streams.kafka.brokers import BrokerInfo


def _broker_api(info: BrokerInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "host": info.host,
        "port": info.port,
        "rack": info.rack,
        "controller": info.controller,
        "leader_partitions": info.leader_partitions,
        "replica_partitions": info.replica_partitions,
    }


@described(answers={200: api.BrokerList})
async def brokers_list(ctx: Ctx) -> dict[str, Any]:
    items, md, note = await brokers.brokers(ctx.kafka)
    return {"items": [_broker_api(b) for b in items], "cluster_id": md.cluster_id, "note": note}


@described(query=api.BrokerQuery, answers={200: api.BrokerDetail})
async def broker_detail(ctx: Ctx) -> Result:
    q = str_param(ctx.query, "q", max_length=255).strip()
    info, items, note = await brokers.broker(ctx.kafka, ctx.args["broker"])
    needle = q.casefold()
    shown = [
        c
        for c in brokers.sort_configs(items)
        if not needle or needle in c.name.casefold() or (c.value is not None and needle in c.value.casefold())
    ]
    data = {
        **_broker_api(info),
        "configs": {c.name: brokers.config_api(c) for c in shown},
        "configs_total": len(items),
        "configs_note": note,
        "q": q,
    }
    # A list for the template: a config named like a dict method must not shadow it.
    return Result(data, page={"config_list": [brokers.config_api(c) for c in shown]})
