"""Kafka consumer groups: the list (by name or lag), one group with its lag and members,
offset resets (dry run, the page's preview and the reset are one plan), delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async

from console.apitypes import kafka as api
from console.apitypes.common import Deleted
from console.openapi import described
from console.params import bool_param, choice_param, datetime_param, int_param, page_params, str_param
from console.views.kafka.common import lag_api
from console.web import Ctx, Result, require_confirmation, writes
from streams.aio import gather_strict
from streams.errors import InvalidInput, StreamdeskError
from streams.kafka import actions, offsets
from streams.kafka.groups import NOT_SUPPORTED, describe, group_lags, settle_markers, sweep_lags
from streams.kafka.lag import sort_by_lag
from streams.kafka.names import validate_topic_name
from streams.kafka.offsets import RESET_TARGETS, ResetRequest
from streams.lag.overview import list_statuses, status_ranking
from streams.policies import CONSUMER_GROUPS

GROUP_SORTS = ("name", "lag", "status")


@described(query=api.GroupsQuery, answers={200: api.GroupList})
async def groups_list(ctx: Ctx) -> dict[str, Any]:
    q = str_param(ctx.query, "q", max_length=255).strip()
    sort = choice_param(ctx.query, "sort", GROUP_SORTS, "name")
    page, size = page_params(ctx.query, default_size=50, max_size=500)
    adapter = ctx.kafka
    md, all_groups = await gather_strict(adapter.metadata(), adapter.groups())
    needle = q.casefold()
    listings = ctx.visible(CONSUMER_GROUPS, [g for g in all_groups if needle in g.group.casefold()], lambda g: g.group)
    window = slice((page - 1) * size, page * size)
    if sort == "lag":
        # Ordering by lag needs every group's lag; rows on screen alone get described.
        lags, warning = await group_lags(adapter, md, [g.group for g in listings])
        shown = [g.group for g in sort_by_lag(lags.values())][window]
        described, note = await describe(adapter, shown)
    else:
        if sort == "status":
            # From the last sampled statuses (ERR first, then by lag); groups not sampled yet come last.
            ranking = await sync_to_async(status_ranking)(ctx.slug, "kafka")
            severity_and_lag = {g.group: ranking.get(("", g.group), (0, 0)) for g in listings}
            listings.sort(key=lambda g: (-severity_and_lag[g.group][0], -severity_and_lag[g.group][1]))
        shown = [g.group for g in listings][window]
        (lags, warning), (described, note) = await gather_strict(
            group_lags(adapter, md, shown), describe(adapter, shown)
        )
    by_name = {g.group: g for g in listings}
    sampled = await sync_to_async(list_statuses)(ctx.slug, "kafka", [("", g) for g in shown])
    items = []
    for group in shown:
        desc = described.get(group)
        lag = lags[group]
        items.append(
            {
                "group": group,
                "status": sampled[("", group)]["status"],
                "sparkline": sampled[("", group)]["sparkline"],
                "state": desc.state if desc else by_name[group].state,
                "members": len(desc.members) if desc else None,
                "members_reported": desc.members_reported if desc else False,
                "topics": lag.topics,
                **lag_api(lag),
                "partitions": len(lag.partitions),
                "uncommitted": lag.uncommitted,
            }
        )
    return {
        "items": items,
        "total": len(listings),
        "page": page,
        "page_size": size,
        "q": q,
        "sort": sort,
        "warning": warning or note,
    }


async def _preview(ctx: Ctx, group: str) -> dict[str, Any]:
    """The group page's reset preview (operators, asked with GET from the form): the dry run.

    It runs before the page's own reads, which then answer from the fresh reads it
    made, so the preview and the page around it agree. A problem with it is shown
    next to the form, never instead of the page.
    """
    if not ctx.operator or not ctx.query.get("preview"):
        return {}
    try:
        plan = await offsets.plan(ctx.kafka, reset_request(group, ctx.query))
    except StreamdeskError as exc:
        return {"preview_error": exc.message, "preview_field": exc.field}
    return {"preview": plan.as_api(dry_run=True)}


@described(answers={200: api.GroupDetail})
async def group_detail(ctx: Ctx) -> Result:
    group = ctx.args["group"]
    adapter = ctx.kafka
    preview = await _preview(ctx, group)
    listing, md, (described, note), committed = await gather_strict(
        adapter.group(group), adapter.metadata(), describe(adapter, [group]), adapter.committed([group])
    )
    sweep = await sweep_lags(adapter, md, [group], described, committed=committed)
    desc = described.get(group)
    lag = await settle_markers(adapter, sweep.lags[group])
    members = []
    for m in desc.members if desc else ():
        assignments = [{"topic": t, "partition": p} for t, p in m.assignment]
        members.append(
            {
                "member_id": m.member_id,
                "client_id": m.client_id,
                "host": m.host,
                "instance_id": m.instance_id,
                "assignments": assignments,
                # The earlier name of "assignments", kept for clients written against it.
                "assignment": assignments,
            }
        )
    reported = desc.members_reported if desc else False
    members_note = note
    if members_note is None and not reported:
        members_note = f"The group is {desc.state if desc else 'active'}, but member assignments are {NOT_SUPPORTED}."
    data = {
        "group": group,
        "state": desc.state if desc else listing.state,
        "active": desc.active if desc else False,
        "members": members,
        "members_reported": reported,
        "members_note": members_note,
        "assignor": desc.assignor if desc else "",
        "coordinator": desc.coordinator if desc else None,
        **lag_api(lag),
        "topics": lag.topics,
        "uncommitted": lag.uncommitted,
        "lag_unknown_partitions": lag.lag_unknown,
        "partitions": [p.as_api() for p in lag.partitions],
        "warning": sweep.warning,
    }
    return Result(data, page=preview)


def reset_request(group: str, fields: Mapping[str, Any]) -> ResetRequest:
    topic = validate_topic_name(fields.get("topic"), field="topic")
    to = choice_param(fields, "to", RESET_TARGETS)
    if to is None:
        raise InvalidInput(f"to is required: one of {', '.join(RESET_TARGETS)}.", field="to")
    offset = when_ms = None
    if to == "offset":
        offset = int_param(fields, "value", None, minimum=0)
        if offset is None:
            raise InvalidInput("value (the offset to move to) is required.", field="value")
    elif to == "timestamp":
        when = datetime_param(fields, "value")
        if when is None:
            raise InvalidInput("value (the time to move to) is required.", field="value")
        when_ms = int(when.timestamp() * 1000)
    partitions = _partition_list(fields)
    value = offset if offset is not None else fields.get("value") if when_ms is not None else None
    return ResetRequest(group, topic, to, value, offset, when_ms, partitions)


def _partition_list(fields: Mapping[str, Any]) -> list[int] | None:
    raw = fields.get("partitions")
    if raw in (None, "", []):
        single = int_param(fields, "partition", None, minimum=0)
        return None if single is None else [single]
    if not isinstance(raw, list) or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in raw):
        raise InvalidInput("partitions must be a list of partition numbers.", field="partitions")
    return sorted(set(raw))


@described(body=api.GroupReset, answers={200: api.ResetPlan}, errors=[409])
@writes(actions.GROUP_RESET_OFFSETS, needs="reset")
async def group_reset(ctx: Ctx) -> dict[str, Any]:
    group = ctx.args["group"]
    body = ctx.body()
    req = reset_request(group, body)
    if bool_param(body, "dry_run"):
        plan = await offsets.plan(ctx.kafka, req)
        return {**plan.as_api(dry_run=True), "message": "Dry run: nothing was changed."}
    plan = await actions.do_reset_offsets(ctx.user, ctx.config, req)
    message = (
        f"Offsets of {group} on {req.topic} reset to {req.to}: {plan.moved} of {len(plan.steps)} partitions moved."
    )
    return {**plan.as_api(dry_run=False), "message": message}


@described(answers={200: Deleted}, errors=[409])
@writes(actions.GROUP_DELETE, needs="delete")
async def group_delete(ctx: Ctx) -> dict[str, Any]:
    group = ctx.args["group"]
    require_confirmation(ctx, group, what="the deletion")
    await actions.do_delete_group(ctx.user, ctx.config, group)
    return {"deleted": group, "message": f"Consumer group {group} deleted."}
