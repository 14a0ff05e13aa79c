"""Kafka pages and their JSON twins: topics, messages, consumer groups with lag, offsets.

Lists page before they describe: only the rows on screen get watermarks and
descriptions, except where the order itself needs every group's lag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.urls import URLPattern

from console.params import bool_param, choice_param, datetime_param, int_param, page_params, str_param
from console.web import Ctx, Result, action, endpoint, require_confirmation
from streams import audit
from streams.brokers.kafka_types import (
    ClusterMetadata,
    GroupDescription,
    KafkaMessage,
    ReadRange,
    TopicInfo,
    TopicPartitionKey,
    Watermark,
)
from streams.errors import Conflict, InvalidInput, NotFound, NotSupported, StreamdeskError
from streams.kafka_browse import DEFAULT_LIMIT, FROM_CHOICES, MAX_LIMIT, read_ranges
from streams.kafka_groups import LagSweep, group_lags, read_watermarks, sweep_lags
from streams.kafka_lag import GroupLag, group_lag, sort_by_lag
from streams.kafka_names import collides, parse_configs, validate_topic_name
from streams.kafka_offsets import RESET_TARGETS, ResetStep, plan_reset
from streams.payloads import headers_api

KIND = "kafka"
FULL_DISPLAY_LIMIT = 8 * 1024 * 1024
NOT_SUPPORTED = "not supported by this broker"
GROUP_SORTS = ("name", "lag")


def _slug(ctx: Ctx) -> str:
    assert ctx.cluster is not None
    return ctx.cluster.slug


async def _all(*calls: Awaitable[Any]) -> list[Any]:
    """Await independent calls together; a failure raises the first in argument order.

    All of them are awaited to the end, so an early 404 (unknown group) wins over a
    later one (unknown topic) and no failure is left unretrieved.
    """
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _lag_api(lag: GroupLag) -> dict[str, Any]:
    """Lag null with ``lag_unknown`` says the watermarks were not read, not that nothing was committed."""
    return {"lag": lag.total, "lag_unknown": lag.lag_unknown > 0}


def _count(info: TopicInfo, marks: Mapping[TopicPartitionKey, Watermark]) -> int | None:
    known = [marks[(info.name, p)].messages for p in info.partition_ids if (info.name, p) in marks]
    return sum(known) if known else None


# -- topics ------------------------------------------------------------------------------


async def topics_list(ctx: Ctx) -> dict[str, Any]:
    q = str_param(ctx.query, "q", max_length=249).strip()
    internal = choice_param(ctx.query, "internal", ("show", "hide"), "show")
    page, size = page_params(ctx.query, default_size=50, max_size=500)
    adapter = ctx.adapter
    md: ClusterMetadata = await adapter.metadata()
    needle = q.casefold()
    names = [n for n in md.sorted_names if needle in n.casefold() and (internal == "show" or not md.topics[n].internal)]
    shown = [md.topics[n] for n in names[(page - 1) * size : page * size]]
    marks, warning = await read_watermarks(adapter, shown)
    items = [
        {
            "name": info.name,
            "partitions": len(info.partitions),
            "replication_factor": info.replication_factor,
            "messages": _count(info, marks),
            "internal": info.internal,
        }
        for info in shown
    ]
    return {
        "items": items,
        "total": len(names),
        "page": page,
        "page_size": size,
        "q": q,
        "internal": internal,
        "warning": warning,
    }


async def topic_create(ctx: Ctx) -> Result:
    body = ctx.body()
    name = validate_topic_name(body.get("name"))
    partitions = int_param(body, "partitions", 1, minimum=1, maximum=100_000)
    replication = int_param(body, "replication_factor", -1, minimum=-1, maximum=100)
    if replication == 0:
        raise InvalidInput(
            "replication_factor must be at least 1 (or -1 for the broker's default).", field="replication_factor"
        )
    configs = parse_configs(body.get("configs"))
    assert partitions is not None and replication is not None
    adapter = ctx.adapter

    async def run() -> None:
        md: ClusterMetadata = await adapter.metadata(fresh=True)
        if name in md.topics:
            raise Conflict(f"Topic {name} already exists.", field="name")
        clash = next((t for t in md.topics if collides(name, t)), None)
        if clash:
            raise Conflict(f"{name} collides with topic {clash}: Kafka treats '.' and '_' alike.", field="name")
        await adapter.create_topic(name, partitions, replication, configs)

    params = {"partitions": partitions, "replication_factor": replication, "configs": configs}
    await audit.perform(ctx.user, "kafka.topic.create", run, cluster=_slug(ctx), target=name, params=params)
    data = {"name": name, **params, "message": f"Topic {name} created."}
    return Result(data, status=201)


async def topic_detail(ctx: Ctx) -> dict[str, Any]:
    name = ctx.kwargs["topic"]
    adapter = ctx.adapter
    info: TopicInfo = await adapter.topic(name)
    marks, warning = await read_watermarks(adapter, [info])
    (configs, details, configs_note), (readers, groups_note) = await asyncio.gather(
        _configs(adapter, name), _readers(adapter, info, marks)
    )
    partitions = []
    for p in info.partitions:
        mark = marks.get((name, p.partition))
        partitions.append(
            {
                "partition": p.partition,
                "leader": p.leader,
                "replicas": list(p.replicas),
                "isr": list(p.isr),
                "low": mark.low if mark else None,
                "high": mark.high if mark else None,
                "messages": mark.messages if mark else None,
                "under_replicated": len(p.isr) < len(p.replicas),
                "error": p.error,
            }
        )
    return {
        "name": name,
        "internal": info.internal,
        "replication_factor": info.replication_factor,
        "messages": _count(info, marks),
        "partitions": partitions,
        "configs": configs,
        "config_details": details,
        "configs_note": configs_note,
        "groups": readers,
        "groups_note": groups_note,
        "warning": warning,
    }


async def _configs(adapter: Any, topic: str) -> tuple[dict[str, str | None] | None, list[dict[str, Any]], str | None]:
    try:
        items = await adapter.topic_configs(topic)
    except NotSupported:
        items = ()
    except StreamdeskError as exc:
        return None, [], f"Configs unavailable: {exc.message}"
    if not items:
        return None, [], f"Topic configs are {NOT_SUPPORTED} (DescribeConfigs answered nothing)."
    details = [
        {
            "name": c.name,
            "value": c.value,
            "source": c.source,
            "default": c.default,
            "sensitive": c.sensitive,
            "read_only": c.read_only,
        }
        for c in items
    ]
    return {c.name: c.value for c in items}, details, None


async def _readers(
    adapter: Any, info: TopicInfo, marks: Mapping[TopicPartitionKey, Watermark]
) -> tuple[list[dict[str, Any]], str | None]:
    """Groups with commits on this topic and their lag on it (Kafka keeps no reverse index)."""
    try:
        listings = await adapter.groups()
        committed = await adapter.committed([g.group for g in listings])
    except StreamdeskError as exc:
        return [], f"Consumer groups unavailable: {exc.message}"
    rows = []
    for group, offsets in committed.items():
        mine = {k: v for k, v in offsets.items() if k[0] == info.name}
        if not mine:
            continue
        lag = group_lag(group, mine, marks, {info.name: info.partition_ids})
        rows.append(lag)
    return [
        {
            "group": g.group,
            **_lag_api(g),
            "committed": len(g.partitions) - g.uncommitted,
            "uncommitted": g.uncommitted,
        }
        for g in sort_by_lag(rows)
    ], None


async def topic_delete(ctx: Ctx) -> dict[str, Any]:
    name = ctx.kwargs["topic"]
    require_confirmation(ctx, name, what="the deletion")
    adapter = ctx.adapter

    async def run() -> None:
        await adapter.topic(name)
        await adapter.delete_topic(name)

    await audit.perform(ctx.user, "kafka.topic.delete", run, cluster=_slug(ctx), target=name)
    return {"deleted": name, "message": f"Topic {name} deleted."}


async def topic_partitions(ctx: Ctx) -> dict[str, Any]:
    name = ctx.kwargs["topic"]
    count = int_param(ctx.body(), "count", None, minimum=1, maximum=100_000)
    if count is None:
        raise InvalidInput("count (the new total number of partitions) is required.", field="count")
    adapter = ctx.adapter

    async def run() -> None:
        info: TopicInfo = await adapter.topic(name)
        if count <= len(info.partitions):
            raise InvalidInput(f"count must be more than the current {len(info.partitions)} partitions.", field="count")
        await adapter.add_partitions(name, count)

    await audit.perform(
        ctx.user, "kafka.topic.add_partitions", run, cluster=_slug(ctx), target=name, params={"count": count}
    )
    return {"name": name, "partitions": count, "message": f"Topic {name} now has {count} partitions."}


# -- messages ----------------------------------------------------------------------------


def _message_api(m: KafkaMessage) -> dict[str, Any]:
    return {
        "partition": m.partition,
        "offset": m.offset,
        "timestamp": m.timestamp.isoformat() if m.timestamp else None,
        "timestamp_ms": m.timestamp_ms,
        "timestamp_type": m.timestamp_type,
        "key": m.key.as_api(),
        "key_size": m.key.size,
        "headers": headers_api(list(m.headers)),
        "value": m.value.as_api(),
        "size": m.value.size,
        "truncated": m.truncated,
    }


async def topic_messages(ctx: Ctx) -> dict[str, Any]:
    name = ctx.kwargs["topic"]
    query = ctx.query
    partition = int_param(query, "partition", None, minimum=0)
    limit = int_param(query, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = int_param(query, "offset", None, minimum=0)
    when = datetime_param(query, "timestamp")
    mode = choice_param(query, "from", FROM_CHOICES)
    needle_text = str_param(query, "q", max_length=200)
    full = bool_param(query, "full")
    assert limit is not None
    if offset is not None and when is not None:
        raise InvalidInput("Give offset or timestamp, not both.", field="timestamp")
    if mode is None:
        mode = "offset" if offset is not None else "timestamp" if when is not None else "end"
    if mode == "offset" and offset is None:
        raise InvalidInput("offset is required when reading from an offset.", field="offset")
    if mode == "timestamp" and when is None:
        raise InvalidInput("timestamp is required when reading from a time.", field="timestamp")
    if full and (partition is None or offset is None):
        raise InvalidInput("Showing a whole message needs its partition and offset.", field="partition")

    adapter = ctx.adapter
    info: TopicInfo = await adapter.topic(name)
    if partition is not None and partition not in info.partition_ids:
        raise InvalidInput(f"Topic {name} has no partition {partition}.", field="partition")
    partitions = [partition] if partition is not None else info.partition_ids
    # Fresh: a reader who just produced expects to see the record.
    marks: dict[TopicPartitionKey, Watermark] = await adapter.watermarks([info], fresh=True)
    by_partition = {p: marks[(name, p)] for p in partitions if (name, p) in marks}
    needle = needle_text.encode("utf-8") if needle_text else None

    if full:
        assert partition is not None and offset is not None
        mark = by_partition.get(partition)
        if mark is None or not mark.low <= offset < mark.high:
            raise NotFound(f"No message at offset {offset} of partition {partition}.")
        ranges = [ReadRange(partition=partition, start=offset, end=offset + 1, keep=1)]
        result = await adapter.browse(name, ranges, limit=1, newest=False, display_limit=FULL_DISPLAY_LIMIT)
    else:
        by_time = None
        if mode == "timestamp":
            assert when is not None
            by_time = await adapter.offsets_for_time(name, partitions, int(when.timestamp() * 1000))
        ranges = read_ranges(
            mode, partitions, by_partition, limit, offset=offset, by_time=by_time, filtered=needle is not None
        )
        result = await adapter.browse(name, ranges, limit=limit, newest=mode == "end", needle=needle)

    data: dict[str, Any] = {
        "topic": name,
        "partition": partition,
        "from": mode,
        "offset": offset,
        "timestamp": when.isoformat() if when else None,
        "limit": limit,
        "q": needle_text,
        "full": full,
        "messages": [_message_api(m) for m in result.messages],
        "scanned": result.scanned,
        "complete": result.complete,
        "watermarks": [{"partition": p, "low": m.low, "high": m.high} for p, m in sorted(by_partition.items())],
        "partitions": info.partition_ids,
    }
    if not ctx.is_api:
        base = f"/clusters/{_slug(ctx)}/topics/{name}/messages"
        data["rows"] = [
            {"m": m, "full_url": f"{base}?partition={m.partition}&offset={m.offset}&full=1"} for m in result.messages
        ]
    return data


# -- consumer groups ---------------------------------------------------------------------


async def _describe(
    adapter: Any, groups: list[str], *, fresh: bool = False
) -> tuple[dict[str, GroupDescription], str | None]:
    if not groups:
        return {}, None
    try:
        return await adapter.describe_groups(groups, fresh=fresh), None
    except NotSupported:
        return {}, f"Group descriptions are {NOT_SUPPORTED}."
    except StreamdeskError as exc:
        return {}, f"Group descriptions unavailable: {exc.message}"


async def groups_list(ctx: Ctx) -> dict[str, Any]:
    q = str_param(ctx.query, "q", max_length=255).strip()
    sort = choice_param(ctx.query, "sort", GROUP_SORTS, "name")
    page, size = page_params(ctx.query, default_size=50, max_size=500)
    adapter = ctx.adapter
    md, all_groups = await _all(adapter.metadata(), adapter.groups())
    needle = q.casefold()
    listings = [g for g in all_groups if needle in g.group.casefold()]
    window = slice((page - 1) * size, page * size)
    if sort == "lag":
        # Ordering by lag needs every group's lag; rows on screen alone get described.
        lags, warning = await group_lags(adapter, md, [g.group for g in listings])
        shown = [g.group for g in sort_by_lag(lags.values())][window]
        described, note = await _describe(adapter, shown)
    else:
        shown = [g.group for g in listings][window]
        (lags, warning), (described, note) = await _all(group_lags(adapter, md, shown), _describe(adapter, shown))
    by_name = {g.group: g for g in listings}
    items = []
    for group in shown:
        desc = described.get(group)
        lag = lags[group]
        items.append(
            {
                "group": group,
                "state": desc.state if desc else by_name[group].state,
                "members": len(desc.members) if desc else None,
                "members_reported": desc.members_reported if desc else False,
                "topics": lag.topics,
                **_lag_api(lag),
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


async def group_detail(ctx: Ctx) -> dict[str, Any]:
    group = ctx.kwargs["group"]
    adapter = ctx.adapter
    preview = _Preview.asked(ctx, group)
    # A reset preview must not be stale; the page around it is then read fresh too, so both agree.
    fresh = preview.req is not None
    listing, md, (described, note), committed = await _all(
        adapter.group(group),
        adapter.metadata(),
        _describe(adapter, [group], fresh=fresh),
        adapter.committed([group], fresh=fresh),
    )
    info = await preview.topic(adapter, md)
    sweep, by_time = await _all(
        sweep_lags(adapter, md, [group], described, committed=committed, also=[info] if info else (), fresh=fresh),
        preview.offsets_at(adapter, info),
    )
    desc = described.get(group)
    lag = sweep.lags[group]
    members = [
        {
            "member_id": m.member_id,
            "client_id": m.client_id,
            "host": m.host,
            "instance_id": m.instance_id,
            "assignment": [{"topic": t, "partition": p} for t, p in m.assignment],
        }
        for m in (desc.members if desc else ())
    ]
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
        **_lag_api(lag),
        "topics": lag.topics,
        "uncommitted": lag.uncommitted,
        "lag_unknown_partitions": lag.lag_unknown,
        "partitions": [p.as_api() for p in lag.partitions],
        "warning": sweep.warning,
    }
    if not ctx.is_api:
        data.update(preview.result(info, desc, note, committed.get(group, {}), sweep, by_time))
    return data


@dataclass
class _Preview:
    """The group page's reset preview: the dry run, asked with GET from the form on the page.

    It is planned from the same fresh answers the page shows; a problem with it is
    shown next to the form, never instead of the page.
    """

    req: ResetRequest | None = None
    failure: StreamdeskError | None = None

    @classmethod
    def asked(cls, ctx: Ctx, group: str) -> _Preview:
        if ctx.is_api or not ctx.operator or not ctx.query.get("preview"):
            return cls()
        try:
            return cls(req=_reset_request(group, ctx.query))
        except StreamdeskError as exc:
            return cls(failure=exc)

    def _fail(self, exc: StreamdeskError) -> None:
        self.req, self.failure = None, exc

    async def topic(self, adapter: Any, md: ClusterMetadata) -> TopicInfo | None:
        if self.req is None:
            return None
        try:
            info: TopicInfo = md.topics.get(self.req.topic) or await adapter.topic(self.req.topic)
            _partitions(self.req, info)
        except StreamdeskError as exc:
            self._fail(exc)
            return None
        return info

    async def offsets_at(self, adapter: Any, info: TopicInfo | None) -> dict[int, int | None] | None:
        if self.req is None or info is None:
            return None
        try:
            return await _offsets_at(adapter, self.req, _partitions(self.req, info))
        except StreamdeskError as exc:
            self._fail(exc)
            return None

    def result(
        self,
        info: TopicInfo | None,
        desc: GroupDescription | None,
        describe_note: str | None,
        committed: Mapping[TopicPartitionKey, int],
        sweep: LagSweep,
        by_time: dict[int, int | None] | None,
    ) -> dict[str, Any]:
        req = self.req
        if req is not None and info is not None:
            partitions = _partitions(req, info)
            if desc is None and describe_note is not None:
                # Whether the group is active is unknown: the reset itself would fail the same way.
                self._fail(StreamdeskError(describe_note))
            elif sweep.warning and any((req.topic, p) not in sweep.marks for p in partitions):
                self._fail(StreamdeskError(sweep.warning))
            else:
                try:
                    plan = _make_plan(req, partitions, desc, committed, sweep.marks, by_time)
                except StreamdeskError as exc:
                    self._fail(exc)
                else:
                    return {"preview": _reset_data(req, plan, True)}
        if self.failure is not None:
            return {"preview_error": self.failure.message, "preview_field": self.failure.field}
        return {}


@dataclass
class ResetRequest:
    group: str
    topic: str
    to: str
    value: Any
    offset: int | None
    when_ms: int | None
    partitions: list[int] | None

    @property
    def params(self) -> dict[str, Any]:
        return {"topic": self.topic, "to": self.to, "value": self.value, "partitions": self.partitions}


def _reset_request(group: str, fields: Mapping[str, Any]) -> ResetRequest:
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


@dataclass
class ResetPlan:
    steps: list[ResetStep]
    blocked: str | None


def _partitions(req: ResetRequest, info: TopicInfo) -> list[int]:
    partitions = req.partitions if req.partitions is not None else info.partition_ids
    missing = sorted(set(partitions) - set(info.partition_ids))
    if missing:
        raise InvalidInput(f"Topic {req.topic} has no partition {missing[0]}.", field="partitions")
    return partitions


async def _offsets_at(adapter: Any, req: ResetRequest, partitions: list[int]) -> dict[int, int | None] | None:
    if req.when_ms is None:
        return None
    found: dict[int, int | None] = await adapter.offsets_for_time(req.topic, partitions, req.when_ms)
    return found


def _make_plan(
    req: ResetRequest,
    partitions: list[int],
    desc: GroupDescription | None,
    committed: Mapping[TopicPartitionKey, int],
    marks: Mapping[TopicPartitionKey, Watermark],
    by_time: Mapping[int, int | None] | None,
) -> ResetPlan:
    steps = plan_reset(
        partitions,
        {p: o for (t, p), o in committed.items() if t == req.topic},
        {p: m for (t, p), m in marks.items() if t == req.topic},
        req.to,
        req.offset,
        by_time,
    )
    blocked = None
    if desc is not None and desc.active:
        who = f"{len(desc.members)} member(s)" if desc.members else f"state {desc.state}"
        blocked = f"Group {req.group} has active members ({who}); stop its consumers before resetting its offsets."
    return ResetPlan(steps, blocked)


async def _plan(adapter: Any, req: ResetRequest) -> ResetPlan:
    """What a reset would do, read fresh from the broker at this moment (dry run or reset)."""
    _, info, described, committed = await _all(
        adapter.group(req.group),
        adapter.topic(req.topic),
        adapter.describe_groups([req.group], fresh=True),
        adapter.committed([req.group], fresh=True),
    )
    partitions = _partitions(req, info)
    marks, by_time = await _all(adapter.watermarks([info], fresh=True), _offsets_at(adapter, req, partitions))
    return _make_plan(req, partitions, described.get(req.group), committed.get(req.group, {}), marks, by_time)


def _reset_data(req: ResetRequest, plan: ResetPlan, dry_run: bool) -> dict[str, Any]:
    return {
        "group": req.group,
        "topic": req.topic,
        "to": req.to,
        "value": req.value,
        "dry_run": dry_run,
        "blocked": plan.blocked,
        "partitions": [s.as_api() for s in plan.steps],
    }


async def group_reset(ctx: Ctx) -> dict[str, Any]:
    group = ctx.kwargs["group"]
    body = ctx.body()
    req = _reset_request(group, body)
    adapter = ctx.adapter
    if bool_param(body, "dry_run"):
        plan = await _plan(adapter, req)
        return {**_reset_data(req, plan, True), "message": "Dry run: nothing was changed."}

    async def run() -> ResetPlan:
        plan = await _plan(adapter, req)
        if plan.blocked:
            raise Conflict(plan.blocked)
        await adapter.alter_group_offsets(group, {(req.topic, s.partition): s.new for s in plan.steps})
        return plan

    def describe(plan: ResetPlan) -> str:
        return "; ".join(f"p{s.partition}: {'none' if s.old is None else s.old} -> {s.new}" for s in plan.steps)

    plan = await audit.perform(
        ctx.user,
        "kafka.group.reset_offsets",
        run,
        cluster=_slug(ctx),
        target=f"{group} @ {req.topic}",
        params=req.params,
        describe=describe,
    )
    moved = sum(1 for s in plan.steps if s.changes)
    message = f"Offsets of {group} on {req.topic} reset to {req.to}: {moved} of {len(plan.steps)} partitions moved."
    return {**_reset_data(req, plan, False), "message": message}


async def group_delete(ctx: Ctx) -> dict[str, Any]:
    group = ctx.kwargs["group"]
    require_confirmation(ctx, group, what="the deletion")
    adapter = ctx.adapter

    async def run() -> None:
        await adapter.group(group)
        desc = (await adapter.describe_groups([group], fresh=True)).get(group)
        if desc is not None and desc.active:
            raise Conflict(f"Group {group} has active members (state {desc.state}); stop its consumers first.")
        await adapter.delete_group(group)

    await audit.perform(ctx.user, "kafka.group.delete", run, cluster=_slug(ctx), target=group)
    return {"deleted": group, "message": f"Consumer group {group} deleted."}


async def page_context(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    """Kafka pages live under /clusters/..., but the main menu should light up Kafka."""
    return {"nav": KIND}


def _group_url(ctx: Ctx, group: str) -> str:
    return f"/clusters/{_slug(ctx)}/groups/{quote(group, safe='')}"


urlpatterns: list[URLPattern] = [
    *endpoint(
        "clusters/<slug:cluster>/topics",
        name="kafka-topics",
        kind=KIND,
        template="kafka/topics.html",
        extra_context=page_context,
        partial="kafka/_topics_table.html",
        get=topics_list,
        post=topic_create,
    ),
    *action(
        "clusters/<slug:cluster>/new-topic",
        name="kafka-topic-create",
        kind=KIND,
        handler=topic_create,
        redirect=lambda ctx, data: f"/clusters/{_slug(ctx)}/topics/{data['name']}",
    ),
    *endpoint(
        "clusters/<slug:cluster>/topics/<str:topic>",
        name="kafka-topic",
        kind=KIND,
        template="kafka/topic.html",
        extra_context=page_context,
        get=topic_detail,
        delete=topic_delete,
    ),
    *action(
        "clusters/<slug:cluster>/topics/<str:topic>/delete",
        name="kafka-topic-delete",
        kind=KIND,
        handler=topic_delete,
        redirect=lambda ctx, data: f"/clusters/{_slug(ctx)}/topics",
    ),
    *endpoint(
        "clusters/<slug:cluster>/topics/<str:topic>/partitions",
        name="kafka-topic-partitions",
        kind=KIND,
        post=topic_partitions,
    ),
    *action(
        "clusters/<slug:cluster>/topics/<str:topic>/partitions",
        name="kafka-topic-partitions",
        kind=KIND,
        handler=topic_partitions,
        redirect=lambda ctx, data: f"/clusters/{_slug(ctx)}/topics/{data['name']}",
    ),
    *endpoint(
        "clusters/<slug:cluster>/topics/<str:topic>/messages",
        name="kafka-messages",
        kind=KIND,
        template="kafka/messages.html",
        extra_context=page_context,
        partial="kafka/_messages.html",
        get=topic_messages,
    ),
    *endpoint(
        "clusters/<slug:cluster>/groups",
        name="kafka-groups",
        kind=KIND,
        template="kafka/groups.html",
        extra_context=page_context,
        partial="kafka/_groups_table.html",
        get=groups_list,
    ),
    # A group id may contain "/", so the group routes take a path; the /delete and
    # /reset routes come before the detail route, which would otherwise swallow them.
    *action(
        "clusters/<slug:cluster>/groups/<path:group>/delete",
        name="kafka-group-delete",
        kind=KIND,
        handler=group_delete,
        redirect=lambda ctx, data: f"/clusters/{_slug(ctx)}/groups",
    ),
    *endpoint(
        "clusters/<slug:cluster>/groups/<path:group>/reset",
        name="kafka-group-reset",
        kind=KIND,
        post=group_reset,
    ),
    *action(
        "clusters/<slug:cluster>/groups/<path:group>/reset",
        name="kafka-group-reset",
        kind=KIND,
        handler=group_reset,
        redirect=lambda ctx, data: _group_url(ctx, data["group"]),
    ),
    *endpoint(
        "clusters/<slug:cluster>/groups/<path:group>",
        name="kafka-group",
        kind=KIND,
        template="kafka/group.html",
        get=group_detail,
        delete=group_delete,
        extra_context=page_context,
    ),
]
