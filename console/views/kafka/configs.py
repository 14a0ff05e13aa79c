"""A topic's configs: the table (set on purpose first, defaults folded) and their change, dry run first."""

from __future__ import annotations

from typing import Any

from console.apitypes import kafka as api
from console.openapi import described
from console.params import bool_param
from console.web import Ctx, Result, writes
from streams.errors import NotSupported, StreamdeskError
from streams.kafka import actions
from streams.kafka.adapter import KafkaAdapter
from streams.kafka.brokers import config_api, sort_configs
from streams.kafka.configs import ConfigChange, parse_change
from streams.kafka.groups import NOT_SUPPORTED
from streams.kafka.types import ConfigItem


async def read_configs(
    adapter: KafkaAdapter, topic: str
) -> tuple[dict[str, str | None] | None, list[dict[str, Any]], str | None]:
    """``configs`` (name: value, or None when the broker describes none), ``config_details`` and a note."""
    items: tuple[ConfigItem, ...]
    try:
        items = await adapter.topic_configs(topic)
    except NotSupported:
        items = ()
    except StreamdeskError as exc:
        return None, [], f"Configs unavailable: {exc.message}"
    if not items:
        return None, [], f"Topic configs are {NOT_SUPPORTED} (DescribeConfigs answered nothing)."
    ordered = sort_configs(items)
    return {c.name: c.value for c in ordered}, [config_api(c) for c in ordered], None


@described(answers={200: api.TopicConfigs})
async def topic_configs(ctx: Ctx) -> dict[str, Any]:
    name = ctx.args["topic"]
    await ctx.kafka.topic(name)
    configs, details, note = await read_configs(ctx.kafka, name)
    return {"name": name, "configs": configs, "config_details": details, "configs_note": note}


def _changes(change: ConfigChange, before: dict[str, str | None] | None) -> list[dict[str, Any]]:
    old = before or {}
    rows = [{"name": n, "old": old.get(n), "new": v, "delete": False} for n, v in change.set.items()]
    rows += [{"name": n, "old": old.get(n), "new": None, "delete": True} for n in change.delete]
    return rows


@described(query=api.ConfigsChangeQuery, body=api.ConfigsChange, answers={200: api.ConfigsChanged})
@writes(actions.TOPIC_ALTER_CONFIGS, needs="edit")
async def topic_configs_change(ctx: Ctx) -> Result:
    name = ctx.args["topic"]
    body = ctx.body()
    dry_run = bool_param(ctx.query if ctx.is_api else body, "dry_run", False)
    change = parse_change(body, form=not ctx.is_api)
    adapter = ctx.kafka
    before, _, _ = await read_configs(adapter, name)
    await actions.do_alter_topic_configs(ctx.user, ctx.config, name, change, dry_run=dry_run)
    configs, details, _ = await read_configs(adapter, name)
    count = len(change.names)
    message = (
        f"The broker accepts {count} config change(s) to {name}; nothing is applied yet."
        if dry_run
        else f"{count} config change(s) applied to {name}."
    )
    page = {
        "changes": _changes(change, before),
        "set_text": "".join(f"{n}={v}\n" for n, v in change.set.items()),
        "delete_text": " ".join(change.delete),
    }
    return Result({"configs": configs, "config_details": details, "dry_run": dry_run, "message": message}, page=page)
