"""Starting, reading and cancelling searches; each start is audited (who read which range)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from streams import audit
from streams.clusters import ClusterConfig
from streams.errors import BrokerUnavailable, Conflict, InvalidInput, NotFound
from streams.masking import Rule
from streams.search import kafka_scan
from streams.search.filters import compile_jq
from streams.search.models import Search, SearchResult

KAFKA_SEARCH = "kafka.topic.search"
NATS_SEARCH = "nats.stream.search"
DEFAULT_LIMIT = 500
MAX_LIMIT = 10_000


def parse_params(body: dict[str, Any]) -> dict[str, Any]:
    """The API's search body, checked: 400 naming the field."""
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise InvalidInput("text must be a string or null.", field="text")
    expression = body.get("jq")
    if expression is not None:
        if not isinstance(expression, str):
            raise InvalidInput("jq must be a string or null.", field="jq")
        compile_jq(expression)
    limit = body.get("limit", DEFAULT_LIMIT)
    if limit is None:
        limit = DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT:,}.", field="limit")
    max_scan = body.get("max_scan")
    if max_scan is not None and (isinstance(max_scan, bool) or not isinstance(max_scan, int) or max_scan < 1):
        raise InvalidInput("max_scan must be a positive whole number or null.", field="max_scan")
    partitions = body.get("partitions")
    if partitions is not None and (
        not isinstance(partitions, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in partitions)
    ):
        raise InvalidInput("partitions must be a list of partition numbers or null.", field="partitions")
    start = _where(body.get("from", "beginning"), "from", ("beginning", "now"), ("offset", "last", "time"))
    until = _where(body.get("until"), "until", ("now",), ("offset", "time"))
    return {
        "from": start,
        "until": until,
        "partitions": partitions,
        "text": text or None,
        "jq": expression or None,
        "limit": limit,
        "max_scan": max_scan,
    }


def _where(value: Any, name: str, words: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    from datetime import datetime

    if value is None or value in words:
        return value
    if isinstance(value, dict) and len(value) == 1:
        (key, v), *_ = value.items()
        counted = key in ("offset", "last", "seq")
        if counted and key in keys and isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return {key: v}
        if key == "time" and key in keys and isinstance(v, str):
            try:
                stamp = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidInput(f"{name}.time must be an ISO-8601 time.", field=name) from None
            return {"time": int(stamp.timestamp() * 1000), "iso": v}
    raise InvalidInput(f"{name} must be one of {', '.join(words)} or an object with {' / '.join(keys)}.", field=name)


async def do_start_kafka_search(
    user: User, cluster: ClusterConfig, topic: str, params: dict[str, Any], mask: Sequence[Rule] = ()
) -> Search:
    """``mask``: the masking rules covering the topic that ``user`` may not see through; the search
    keeps them (its Celery worker applies exactly these) and matches the masked messages."""

    def resolve() -> dict[str, list[int]]:
        return kafka_scan.resolve_ranges(cluster, topic, params["partitions"], params["from"], params["until"])

    try:
        ranges = await sync_to_async(resolve, thread_sensitive=False)()
    except (NotFound, InvalidInput):
        raise
    except Exception as exc:
        raise BrokerUnavailable(f"Kafka did not answer: {exc}") from exc
    total = sum(e - s for s, e in ranges.values())
    kept = {**params, "mask": [dict(rule.spec) for rule in mask]} if mask else params
    search = await Search.objects.acreate(
        cluster=cluster.slug, kind="kafka", target=topic, params=kept, ranges=ranges, total=total, created_by=user
    )
    await audit.record(
        user,
        KAFKA_SEARCH,
        cluster=cluster.slug,
        target=topic,
        params={**params, "ranges": ranges, "masked": bool(mask)},
    )

    def enqueue() -> None:
        from streams.search.tasks import run_search

        run_search.delay(search.pk)

    try:
        await sync_to_async(enqueue)()
    except Exception as exc:
        await Search.objects.filter(pk=search.pk).aupdate(state=Search.State.FAILED, error=f"Could not queue: {exc}")
        raise BrokerUnavailable(f"The search could not be handed to a Celery worker: {exc}") from exc
    return search


def parse_stream_params(body: dict[str, Any]) -> dict[str, Any]:
    """A JetStream search body: positions in stream sequences, an optional subject filter instead of partitions."""
    from streams.nats.subjects import validate_subject

    common = parse_params({k: v for k, v in body.items() if k not in ("from", "until", "partitions")})
    subject = body.get("subject")
    if subject is not None:
        if not isinstance(subject, str):
            raise InvalidInput("subject must be a subject filter or null.", field="subject")
        subject = subject.strip() or None
        problem = validate_subject(subject) if subject else None
        if problem:
            raise InvalidInput(f"subject is not a valid subject filter: {problem}.", field="subject")
    return {
        "from": _where(body.get("from", "beginning"), "from", ("beginning", "now"), ("seq", "last", "time")),
        "until": _where(body.get("until"), "until", ("now",), ("seq", "time")),
        "subject": subject,
        **{k: common[k] for k in ("text", "jq", "limit", "max_scan")},
    }


async def do_start_stream_search(
    user: User, cluster: ClusterConfig, stream: str, params: dict[str, Any], mask: Sequence[Rule] = ()
) -> Search:
    """``mask``: as for a Kafka search, the rules its Celery worker applies (here also those naming subjects:
    each message's subject decides)."""
    from streams import adapters
    from streams.search import jetstream_scan

    span = await jetstream_scan.resolve_range(
        adapters.nats(cluster), stream, params["from"], params["until"], params["subject"]
    )
    ranges = {"seq": span}
    kept = {**params, "mask": [dict(rule.spec) for rule in mask]} if mask else params
    search = await Search.objects.acreate(
        cluster=cluster.slug,
        kind="nats",
        target=stream,
        params=kept,
        ranges=ranges,
        total=span[1] - span[0],
        created_by=user,
    )
    await audit.record(
        user,
        NATS_SEARCH,
        cluster=cluster.slug,
        target=stream,
        params={**params, "ranges": ranges, "masked": bool(mask)},
    )
    await _enqueue(search)
    return search


async def _enqueue(search: Search) -> None:
    def enqueue() -> None:
        from streams.search.tasks import run_search

        run_search.delay(search.pk)

    try:
        await sync_to_async(enqueue)()
    except Exception as exc:
        await Search.objects.filter(pk=search.pk).aupdate(state=Search.State.FAILED, error=f"Could not queue: {exc}")
        raise BrokerUnavailable(f"The search could not be handed to a Celery worker: {exc}") from exc


async def get_search(user: User, search_id: int) -> Search:
    """A user's own search; anyone else's is a 404."""
    search = await Search.objects.filter(pk=search_id, created_by=user).afirst()
    if search is None:
        raise NotFound(f"No search {search_id}.")
    return search


async def results(search: Search, offset: int, count: int) -> list[dict[str, Any]]:
    rows = SearchResult.objects.filter(search=search).order_by("index")[offset : offset + count]
    return [r.message async for r in rows]


async def do_cancel_search(user: User, search_id: int) -> Search:
    search = await get_search(user, search_id)
    if search.state in Search.FINISHED:
        raise Conflict(f"Search {search_id} has already ended ({search.state}).")
    await Search.objects.filter(pk=search.pk).aupdate(cancel_requested=True)
    return search
