"""NATS pages and their JSON twins: server, connections, subjects, streams, the message
browser, consumers, and the writes (purge, delete, pause, resume).

Handlers return the API's shape. Where a page needs richer objects than JSON can
carry (payloads with their hex and pretty-JSON views, consumers with readable
pause times), the handler also hands them to the page through ``_for_page``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from django.urls import URLPattern

from console.params import bool_param, choice_param, datetime_param, int_param, page_params, str_param
from console.web import Ctx, action, endpoint, require_confirmation
from streams import audit
from streams.brokers import nats as nats_broker
from streams.brokers.nats import PAUSE_MIN_VERSION, NatsAdapter
from streams.errors import InvalidInput, NotSupported, StreamdeskError
from streams.nats_durations import humanize, parse_duration, seconds
from streams.nats_subjects import (
    SUBJECT_MAX_LENGTH,
    from_streams,
    from_subscriptions,
    merge,
    search,
    validate_subject,
)
from streams.nats_types import INDEFINITE_PAUSE, at_least, parse_time, pause_description
from streams.payloads import DISPLAY_LIMIT

BROWSE_MAX = 500
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
STREAM_SORTS = ("name", "messages", "bytes", "consumers", "last")
CONSUMER_SORTS = ("name", "lag", "ack_pending", "redelivered", "waiting")
PAGE_SUBJECTS_SHOWN = 500
DURATION_KEYS = frozenset(
    {"max_age", "duplicate_window", "ack_wait", "inactive_threshold", "idle_heartbeat", "subject_delete_marker_ttl"}
)
# The most of one value the single-message view shows, even when asked for all of it.
FULL_DISPLAY_LIMIT = 8 * 1024 * 1024


def _adapter(ctx: Ctx) -> NatsAdapter:
    adapter: NatsAdapter = ctx.adapter
    return adapter


def _for_page(ctx: Ctx, **values: Any) -> None:
    """Objects for the page's template only; the page view merges ``ctx.kwargs`` into its context."""
    if not ctx.is_api:
        ctx.kwargs.update(values)


def _slug(ctx: Ctx) -> str:
    assert ctx.cluster is not None
    return ctx.cluster.slug


def _tab(tab: str) -> Callable[[Ctx, dict[str, Any]], Awaitable[dict[str, Any]]]:
    async def context(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
        return {"nav": "nats", "tab": tab}

    return context


def _subject_param(data: Any, name: str) -> str | None:
    raw = str_param(data, name, max_length=SUBJECT_MAX_LENGTH).strip()
    if not raw:
        return None
    problem = validate_subject(raw)
    if problem:
        raise InvalidInput(f"{name} is not a valid subject filter: {problem}.", field=name)
    return raw


def _paged(items: list[Any], page: int, size: int) -> list[Any]:
    return items[(page - 1) * size : page * size]


# -- server and connections -------------------------------------------------------------


async def server_data(ctx: Ctx) -> dict[str, Any]:
    return await _adapter(ctx).server_overview()


async def connections_data(ctx: Ctx) -> dict[str, Any]:
    sort = choice_param(ctx.query, "sort", tuple(CONNECTION_SORTS), "pending")
    assert sort is not None
    page, size = page_params(ctx.query, default_size=50, max_size=500)
    assert ctx.cluster is not None
    if not ctx.cluster.monitor_url:
        return {"items": [], "total": 0, "page": page, "page_size": size, "sort": sort, "monitoring": False}
    rows, total, slow = await _adapter(ctx).connections(sort=sort, offset=(page - 1) * size, limit=size)
    return {
        "items": [r.as_api() for r in rows],
        "total": total,
        "page": page,
        "page_size": size,
        "sort": sort,
        "slow_consumers": slow,
        "monitoring": True,
    }


async def connections_context(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    return {"nav": "nats", "tab": "connections", "sorts": list(CONNECTION_SORTS.items())}


# -- subjects -------------------------------------------------------------------------


async def subjects_data(ctx: Ctx) -> dict[str, Any]:
    q = str_param(ctx.query, "q", max_length=SUBJECT_MAX_LENGTH).strip()
    source = choice_param(ctx.query, "source", ("subscription", "stream"))
    internal = choice_param(ctx.query, "internal", ("0", "1"), "0") == "1"
    page, size = page_params(ctx.query, default_size=100, max_size=1000)
    wildcard = any(part in ("*", ">") for part in q.split("."))
    if wildcard and (problem := validate_subject(q)):
        raise InvalidInput(f"q is not a valid subject pattern: {problem}.", field="q")
    adapter = _adapter(ctx)
    assert ctx.cluster is not None
    monitored = bool(ctx.cluster.monitor_url)

    async def subscriptions() -> tuple[list[dict[str, Any]], int] | None:
        return await adapter.subscriptions() if monitored and source != "stream" else None

    async def stored() -> tuple[dict[str, dict[str, int]], bool] | None:
        if source == "subscription":
            return None
        try:
            # A subject pattern goes to the server as the filter; a substring needs every subject.
            return await adapter.stream_subjects(q if wildcard else ">")
        except NotSupported:
            return None

    results = await asyncio.gather(stored(), subscriptions(), return_exceptions=True)
    per_stream, subs = results
    if isinstance(per_stream, BaseException):
        raise per_stream
    monitor_error = None
    if isinstance(subs, BaseException):
        if not isinstance(subs, StreamdeskError):
            raise subs
        monitor_error, subs = subs.message, None
    sub_rows, hidden = from_subscriptions(subs[0], include_internal=internal) if subs else ([], 0)
    stream_subjects, stored_truncated = per_stream or ({}, False)
    rows = search(merge(sub_rows, from_streams(stream_subjects)), q)
    return {
        "items": [r.as_api() for r in _paged(rows, page, size)],
        "total": len(rows),
        "page": page,
        "page_size": size,
        "q": q,
        "monitoring": monitored,
        "monitor_error": monitor_error,
        "jetstream": per_stream is not None or source == "subscription",
        "hidden_internal": hidden,
        "subscriptions_total": subs[1] if subs else None,
        "subscriptions_truncated": bool(subs and subs[1] > len(subs[0])),
        "truncated": stored_truncated,
    }


async def subjects_context(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "nav": "nats",
        "tab": "subjects",
        # Read at request time: the limits are the adapter module's.
        "subjects_per_stream": nats_broker.SUBJECTS_PER_STREAM,
        "subjects_total": nats_broker.SUBJECTS_TOTAL,
    }


# -- streams --------------------------------------------------------------------------


async def streams_data(ctx: Ctx) -> dict[str, Any]:
    q = str_param(ctx.query, "q", max_length=SUBJECT_MAX_LENGTH).strip().lower()
    sort = choice_param(ctx.query, "sort", STREAM_SORTS, "name")
    page, size = page_params(ctx.query, default_size=50, max_size=1000)
    found = await _adapter(ctx).streams()
    if q:
        found = [s for s in found if q in s.name.lower() or any(q in subject.lower() for subject in s.subjects)]
    if sort == "messages":
        found = sorted(found, key=lambda s: s.messages, reverse=True)
    elif sort == "bytes":
        found = sorted(found, key=lambda s: s.bytes, reverse=True)
    elif sort == "consumers":
        found = sorted(found, key=lambda s: s.consumers, reverse=True)
    elif sort == "last":
        epoch = datetime.min.replace(tzinfo=UTC)
        found = sorted(found, key=lambda s: s.last_ts or epoch, reverse=True)
    return {
        "items": [s.as_api() for s in _paged(found, page, size)],
        "total": len(found),
        "page": page,
        "page_size": size,
        "q": q,
        "sort": sort,
    }


def _config_rows(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The stream or consumer config as readable rows: durations humanised, lists joined."""
    rows = []
    for key, value in config.items():
        if key in DURATION_KEYS and isinstance(value, int):
            shown = "none" if value == 0 else f"{humanize(seconds(value))} ({value} ns)"
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value) if all(not isinstance(v, dict) for v in value) else str(value)
        elif isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in value.items()) or "—"
        elif value == -1 and key.startswith("max_"):
            shown = "unlimited"
        else:
            shown = str(value)
        rows.append((key, shown))
    return rows


async def stream_data(ctx: Ctx) -> dict[str, Any]:
    detail = await _adapter(ctx).stream(ctx.kwargs["stream"])
    if not ctx.is_api:
        top = sorted(detail.subjects.items(), key=lambda kv: (-kv[1], kv[0]))[:PAGE_SUBJECTS_SHOWN]
        _for_page(ctx, stream_obj=detail.summary, config_rows=_config_rows(detail.config), top_subjects=top)
    return detail.as_api()


async def stream_delete(ctx: Ctx) -> dict[str, Any]:
    name = ctx.kwargs["stream"]
    require_confirmation(ctx, name, what="deleting the stream")
    await audit.perform(
        ctx.user,
        "stream.delete",
        lambda: _adapter(ctx).delete_stream(name),
        cluster=_slug(ctx),
        target=name,
        describe=lambda _: f"deleted stream {name}",
    )
    return {"deleted": name, "message": f"Stream {name} deleted."}


async def stream_purge(ctx: Ctx) -> dict[str, Any]:
    name = ctx.kwargs["stream"]
    body = ctx.body()
    subject = _subject_param(body, "subject")
    keep = int_param(body, "keep", None, minimum=0, maximum=2**53)
    require_confirmation(ctx, name, what="the purge")
    params: dict[str, Any] = {"subject": subject, "keep": keep}
    purged = await audit.perform(
        ctx.user,
        "stream.purge",
        lambda: _adapter(ctx).purge_stream(name, subject=subject, keep=keep),
        cluster=_slug(ctx),
        target=name,
        params=params,
        describe=lambda n: f"purged {n} messages",
    )
    scope = f" on {subject}" if subject else ""
    kept = f", kept the newest {keep}" if keep is not None else ""
    return {"purged": purged, "message": f"Purged {purged} messages{scope} from {name}{kept}."}


# -- messages -------------------------------------------------------------------------


def _browse_url(ctx: Ctx, **changes: Any) -> str:
    query = {k: v for k, v in ctx.query.items() if k not in ("seq", "since", "full")}
    query.update({k: v for k, v in changes.items() if v is not None})
    return f"?{urlencode(query)}"


async def messages_data(ctx: Ctx) -> dict[str, Any]:
    name = ctx.kwargs["stream"]
    seq = int_param(ctx.query, "seq", None, minimum=1, maximum=2**63 - 1)
    since = datetime_param(ctx.query, "since")
    if seq is not None and since is not None:
        raise InvalidInput("Give seq or since, not both.", field="since")
    subject = _subject_param(ctx.query, "subject")
    limit = int_param(ctx.query, "limit", 50, minimum=1, maximum=BROWSE_MAX)
    assert limit is not None
    browse = await _adapter(ctx).messages(name, seq=seq, since=since, subject=subject, limit=limit)
    data = browse.as_api()
    data.update({"seq": seq, "since": since, "subject": subject, "limit": limit})
    if not ctx.is_api:
        start = browse.messages[0].seq if browse.messages else (seq or browse.first_seq)
        _for_page(
            ctx,
            stored=browse.messages,
            latest_url=_browse_url(ctx, seq=max(browse.first_seq, browse.last_seq - limit + 1, 1)),
            first_url=_browse_url(ctx, seq=max(browse.first_seq, 1)),
            next_url=_browse_url(ctx, seq=browse.next_seq) if browse.next_seq else None,
            prev_url=_browse_url(ctx, seq=max(browse.first_seq, start - limit, 1))
            if start > browse.first_seq
            else None,
        )
    return data


async def message_data(ctx: Ctx) -> dict[str, Any]:
    """One message, its value cut at the display limit like the list; ``full=1`` shows up to FULL_DISPLAY_LIMIT."""
    name, seq = ctx.kwargs["stream"], ctx.kwargs["seq"]
    full = bool_param(ctx.query, "full", False)
    limit = FULL_DISPLAY_LIMIT if full else DISPLAY_LIMIT
    message = await _adapter(ctx).message(name, seq, limit=limit)
    _for_page(ctx, message=message)
    return {"stream": name, "message": message.as_api(), "full": full, "limit": limit}


async def message_delete(ctx: Ctx) -> dict[str, Any]:
    name, seq = ctx.kwargs["stream"], ctx.kwargs["seq"]
    erase = bool_param(ctx.body(), "erase", False)
    require_confirmation(ctx, str(seq), what="deleting the message")
    await audit.perform(
        ctx.user,
        "stream.message.delete",
        lambda: _adapter(ctx).delete_message(name, seq, erase=erase),
        cluster=_slug(ctx),
        target=f"{name}#{seq}",
        params={"seq": seq, "erase": erase},
        describe=lambda _: f"deleted message {seq}" + (" (erased)" if erase else ""),
    )
    return {"deleted": seq, "stream": name, "message": f"Message {seq} deleted from {name}."}


# -- consumers ------------------------------------------------------------------------


async def consumers_data(ctx: Ctx) -> dict[str, Any]:
    stream = ctx.kwargs["stream"]
    q = str_param(ctx.query, "q", max_length=255).strip().lower()
    sort = choice_param(ctx.query, "sort", CONSUMER_SORTS, "name")
    page, size = page_params(ctx.query, default_size=50, max_size=1000)
    found = await _adapter(ctx).consumers(stream)
    if q:
        found = [c for c in found if q in c.name.lower() or any(q in f.lower() for f in c.filter_subjects)]
    keys: dict[str, Callable[[Any], Any]] = {
        "lag": lambda c: c.num_pending,
        "ack_pending": lambda c: c.num_ack_pending,
        "redelivered": lambda c: c.num_redelivered,
        "waiting": lambda c: c.num_waiting,
    }
    if sort in keys:
        found = sorted(found, key=keys[sort], reverse=True)
    shown = _paged(found, page, size)
    _for_page(ctx, consumers=shown)
    return {
        "stream": stream,
        "items": [c.as_api() for c in shown],
        "total": len(found),
        "page": page,
        "page_size": size,
        "q": q,
        "sort": sort,
    }


async def consumer_data(ctx: Ctx) -> dict[str, Any]:
    adapter = _adapter(ctx)
    consumer = await adapter.consumer(ctx.kwargs["stream"], ctx.kwargs["name"])
    version = adapter.server_version()
    _for_page(
        ctx,
        consumer=consumer,
        config_rows=_config_rows(consumer.config),
        server_version=version,
        pause_supported=version is None or at_least(version, PAUSE_MIN_VERSION),
    )
    return consumer.as_api(with_config=True)


def _pause_until(ctx: Ctx) -> tuple[datetime, dict[str, Any]]:
    """When the pause ends, from ``for`` (a duration) or ``until`` (a time; null: until resumed)."""
    body = ctx.body()
    now = datetime.now(UTC)
    if not ctx.is_api and bool_param(body, "indefinitely", False):
        return now + INDEFINITE_PAUSE, {"until": None}
    duration = str_param(body, "for", max_length=40).strip()
    if duration:
        try:
            span = parse_duration(duration)
        except ValueError:
            raise InvalidInput(
                "for must be a duration such as 90s, 10m or 1h30m, of at most 100 years.", field="for"
            ) from None
        return now + span, {"for": duration}
    if ctx.is_api and "until" in body and body["until"] is None:
        return now + INDEFINITE_PAUSE, {"until": None}
    if ctx.is_api and "until" not in body:
        raise InvalidInput('Give "until" (an ISO-8601 time, or null for until resumed) or "for" (10m).', field="until")
    if not isinstance(body.get("until"), str | None):
        raise InvalidInput("until must be an ISO-8601 time or null.", field="until")
    until = datetime_param(body, "until")
    if until is None:
        raise InvalidInput("Give a duration (for example 10m) or a time to pause until.", field="for")
    if until <= now:
        raise InvalidInput("until must be in the future.", field="until")
    if until - now > INDEFINITE_PAUSE:
        raise InvalidInput("until may be at most 100 years away.", field="until")
    return until, {"until": until.isoformat()}


async def consumer_pause(ctx: Ctx) -> dict[str, Any]:
    stream, name = ctx.kwargs["stream"], ctx.kwargs["name"]
    until, params = _pause_until(ctx)
    reply = await audit.perform(
        ctx.user,
        "consumer.pause",
        lambda: _adapter(ctx).pause_consumer(stream, name, until),
        cluster=_slug(ctx),
        target=f"{stream}/{name}",
        params=params,
        describe=lambda r: f"paused until {r.get('pause_until')}",
    )
    remaining = seconds(reply.get("pause_remaining"))
    when = pause_description(remaining)
    return {
        "stream": stream,
        "name": name,
        "paused": bool(reply.get("paused")),
        "pause_until": parse_time(reply.get("pause_until")),
        "pause_remaining_s": None if remaining is None else round(remaining, 3),
        "message": f"Consumer {name} paused {when}." if when else f"Consumer {name} paused.",
    }


async def consumer_resume(ctx: Ctx) -> dict[str, Any]:
    stream, name = ctx.kwargs["stream"], ctx.kwargs["name"]
    reply = await audit.perform(
        ctx.user,
        "consumer.resume",
        lambda: _adapter(ctx).resume_consumer(stream, name),
        cluster=_slug(ctx),
        target=f"{stream}/{name}",
        describe=lambda r: "resumed",
    )
    return {"stream": stream, "name": name, "paused": bool(reply.get("paused")), "message": f"Consumer {name} resumed."}


# -- redirects after page forms -------------------------------------------------------


def _stream_url(ctx: Ctx) -> str:
    return f"/clusters/{_slug(ctx)}/streams/{quote(ctx.kwargs['stream'], safe='')}"


def _to_stream(ctx: Ctx, data: dict[str, Any]) -> str:
    return _stream_url(ctx)


def _to_streams(ctx: Ctx, data: dict[str, Any]) -> str:
    return f"/clusters/{_slug(ctx)}/streams"


def _to_messages(ctx: Ctx, data: dict[str, Any]) -> str:
    return f"{_stream_url(ctx)}/messages?seq={ctx.kwargs['seq']}"


def _to_consumer(ctx: Ctx, data: dict[str, Any]) -> str:
    return f"{_stream_url(ctx)}/consumers/{quote(ctx.kwargs['name'], safe='')}"


C = "clusters/<slug:cluster>"
S = f"{C}/streams/<str:stream>"

urlpatterns: list[URLPattern] = [
    *endpoint(
        f"{C}/server",
        name="nats-server",
        kind="nats",
        template="nats/server.html",
        get=server_data,
        extra_context=_tab("server"),
    ),
    *endpoint(
        f"{C}/connections",
        name="nats-connections",
        kind="nats",
        template="nats/connections.html",
        partial="nats/_connections.html",
        get=connections_data,
        extra_context=connections_context,
    ),
    *endpoint(
        f"{C}/subjects",
        name="nats-subjects",
        kind="nats",
        template="nats/subjects.html",
        partial="nats/_subjects.html",
        get=subjects_data,
        extra_context=subjects_context,
    ),
    *endpoint(
        f"{C}/streams",
        name="nats-streams",
        kind="nats",
        template="nats/streams.html",
        partial="nats/_streams.html",
        get=streams_data,
        extra_context=_tab("streams"),
    ),
    *endpoint(
        S,
        name="nats-stream",
        kind="nats",
        template="nats/stream.html",
        get=stream_data,
        delete=stream_delete,
        extra_context=_tab("streams"),
    ),
    *endpoint(f"{S}/purge", name="nats-stream-purge-api", kind="nats", post=stream_purge),
    *action(f"{S}/purge", name="nats-stream-purge", kind="nats", handler=stream_purge, redirect=_to_stream),
    *action(f"{S}/delete", name="nats-stream-delete", kind="nats", handler=stream_delete, redirect=_to_streams),
    *endpoint(
        f"{S}/messages",
        name="nats-messages",
        kind="nats",
        template="nats/messages.html",
        partial="nats/_messages.html",
        get=messages_data,
        extra_context=_tab("streams"),
    ),
    *endpoint(
        f"{S}/messages/<int:seq>",
        name="nats-message",
        kind="nats",
        template="nats/message.html",
        get=message_data,
        delete=message_delete,
        extra_context=_tab("streams"),
    ),
    *action(
        f"{S}/messages/<int:seq>/delete",
        name="nats-message-delete",
        kind="nats",
        handler=message_delete,
        redirect=_to_messages,
    ),
    *endpoint(
        f"{S}/consumers",
        name="nats-consumers",
        kind="nats",
        template="nats/consumers.html",
        partial="nats/_consumers.html",
        get=consumers_data,
        extra_context=_tab("streams"),
    ),
    *endpoint(
        f"{S}/consumers/<str:name>",
        name="nats-consumer",
        kind="nats",
        template="nats/consumer.html",
        get=consumer_data,
        extra_context=_tab("streams"),
    ),
    *endpoint(f"{S}/consumers/<str:name>/pause", name="nats-consumer-pause-api", kind="nats", post=consumer_pause),
    *action(
        f"{S}/consumers/<str:name>/pause",
        name="nats-consumer-pause",
        kind="nats",
        handler=consumer_pause,
        redirect=_to_consumer,
    ),
    *endpoint(f"{S}/consumers/<str:name>/resume", name="nats-consumer-resume-api", kind="nats", post=consumer_resume),
    *action(
        f"{S}/consumers/<str:name>/resume",
        name="nats-consumer-resume",
        kind="nats",
        handler=consumer_resume,
        redirect=_to_consumer,
    ),
]
