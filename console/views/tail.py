"""Live tail pages: a topic, a stream, a subject pattern. The page is a shell for static/js/tail.js,
which opens the tail socket; its JSON twin says which socket and which subscribe frame reproduce it.

The page's state (start, partitions, subject filter, substring filter, order, rows) is in
its query string, so a link reproduces it.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, reverse

from console.apitypes import tail as api
from console.openapi import described
from console.params import choice_param, datetime_param, int_param, str_param
from console.resources import KV_VALUES, STREAM_MESSAGES, SUBJECT_MESSAGES, TOPIC_MESSAGES
from console.routing import tail_socket_path
from console.views.kafka.common import PAGE as KAFKA_PAGE
from console.views.nats.common import tab
from console.web import Ctx, Result, endpoint
from streams.errors import InvalidInput
from streams.nats import kv
from streams.nats.subjects import SUBJECT_MAX_LENGTH
from streams.tail.spec import FILTER_MAX_LENGTH, LAST_MAX, TailSpec, parse_subscribe

C = "clusters/<slug:cluster>"
DEFAULT_ROWS = 1000
MAX_ROWS = 10_000
DEFAULT_LAST = 100
ORDERS = ("newest", "oldest")


def _start(ctx: Ctx, choices: tuple[str, ...]) -> Any:
    """The subscribe frame's ``from`` for the page's query string."""
    query = ctx.query
    mode = choice_param(query, "from", choices, "now")
    if mode in ("now", "beginning"):
        return mode
    if mode == "last":
        return {"last": int_param(query, "n", DEFAULT_LAST, minimum=1, maximum=LAST_MAX)}
    if mode in ("offset", "seq"):
        value = int_param(query, mode, None, minimum=0 if mode == "offset" else 1)
        if value is None:
            raise InvalidInput(
                f"{mode} is required when starting from {'an' if mode == 'offset' else 'a'} {mode}.", field=mode
            )
        return {mode: value}
    when = datetime_param(query, "time")
    if when is None:
        raise InvalidInput("time is required when starting from a time.", field="time")
    return {"time": when.isoformat()}


def _partitions(ctx: Ctx) -> list[int] | None:
    raw = str_param(ctx.query, "partitions", max_length=2000).strip()
    if not raw:
        return None
    try:
        return sorted({int(part) for part in raw.split(",") if part.strip()})
    except ValueError:
        raise InvalidInput("partitions is a comma-separated list of partition numbers.", field="partitions") from None


def _spec(frame: dict[str, Any]) -> TailSpec:
    try:
        return parse_subscribe(frame)
    except InvalidInput as exc:
        # The frame's "name" and "from" come from the URL path and the start fields.
        raise InvalidInput(exc.message, field="from" if exc.field == "from" else exc.field) from None


def _data(ctx: Ctx, spec: TailSpec, **extra: Any) -> dict[str, Any]:
    return {
        "cluster": ctx.slug,
        "source": spec.source,
        "name": spec.name,
        "socket": tail_socket_path(ctx.slug),
        "subscribe": spec.as_api(),
        "start": spec.start.describe(spec.source),
        "order": choice_param(ctx.query, "order", ORDERS, "newest"),
        "rows": int_param(ctx.query, "rows", DEFAULT_ROWS, minimum=10, maximum=MAX_ROWS),
        **extra,
    }


def _filter(ctx: Ctx) -> str | None:
    return str_param(ctx.query, "filter", max_length=FILTER_MAX_LENGTH) or None


@described(query=api.TopicTailQuery, answers={200: api.TailPage})
async def topic_live(ctx: Ctx) -> Result:
    name = ctx.args["topic"]
    info = await ctx.kafka.topic(name)
    partitions = _partitions(ctx)
    unknown = sorted(set(partitions or ()) - set(info.partition_ids))
    if unknown:
        raise InvalidInput(f"Topic {name} has no partition {unknown[0]}.", field="partitions")
    frame = {
        "source": "topic",
        "name": name,
        "from": _start(ctx, ("now", "beginning", "last", "offset", "time")),
        "partitions": partitions,
        "filter": _filter(ctx),
    }
    spec = _spec(frame)
    data = _data(ctx, spec, partitions=info.partition_ids)
    links = {"messages_url": reverse("kafka-messages", args=[ctx.slug, name])}
    if ctx.config.schema_registry_url:
        links["schemas_base"] = reverse("schemas", args=[ctx.slug]) + "/"
    if ctx.operator:
        links |= {
            "publish_api": reverse("api-kafka-publish", args=[ctx.slug, name]),
            "publish_page": reverse("kafka-publish", args=[ctx.slug, name]),
        }
    return Result(data, page={"links": links, "back_url": reverse("kafka-topic", args=[ctx.slug, name])})


@described(query=api.StreamTailQuery, answers={200: api.TailPage})
async def stream_live(ctx: Ctx) -> Result:
    name = ctx.args["stream"]
    detail = await ctx.nats.stream(name)
    frame = {
        "source": "stream",
        "name": name,
        "from": _start(ctx, ("now", "beginning", "last", "seq", "time")),
        "subject": str_param(ctx.query, "subject", max_length=SUBJECT_MAX_LENGTH).strip() or None,
        "filter": _filter(ctx),
    }
    spec = _spec(frame)
    data = _data(ctx, spec, subjects=list(detail.summary.subjects), subject=spec.subject)
    one = reverse("nats-message", args=[ctx.slug, name, 0])
    links = {"message_base": one.removesuffix("0"), **_nats_publish_links(ctx)}
    return Result(data, page={"links": links, "back_url": reverse("nats-stream", args=[ctx.slug, name])})


@described(query=api.SubjectTailQuery, answers={200: api.TailPage})
async def subject_live(ctx: Ctx) -> Result:
    subject = str_param(ctx.query, "subject", max_length=SUBJECT_MAX_LENGTH).strip()
    if not subject:
        raise InvalidInput(
            "subject is required: a subject or a pattern such as sensors.*.temperature or orders.>", field="subject"
        )
    frame = {"source": "subject", "name": subject, "from": "now", "filter": _filter(ctx)}
    try:
        spec = parse_subscribe(frame)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="subject" if exc.field == "name" else exc.field) from None
    page = {"links": _nats_publish_links(ctx), "back_url": reverse("nats-subjects", args=[ctx.slug])}
    return Result(_data(ctx, spec), page=page)


@described(query=api.KvTailQuery, answers={200: api.TailPage})
async def kv_live(ctx: Ctx) -> Result:
    bucket = ctx.args["bucket"]
    await kv.kv(ctx.config).bucket(bucket)
    frame = {
        "source": "kv",
        "name": bucket,
        "from": choice_param(ctx.query, "from", ("now", "beginning"), "now"),
        "keys": str_param(ctx.query, "keys", max_length=1024).strip() or None,
        "filter": _filter(ctx),
    }
    spec = _spec(frame)
    data = _data(ctx, spec, keys=spec.keys)
    key_page = reverse("nats-kv-key", args=[ctx.slug, bucket, "k"])
    links = {"key_base": key_page.removesuffix("k")}
    return Result(data, page={"links": links, "back_url": reverse("nats-kv-keys", args=[ctx.slug, bucket])})


def _nats_publish_links(ctx: Ctx) -> dict[str, str]:
    """Where a row's "Publish again" and "Edit and publish" go (operators only)."""
    if not ctx.operator:
        return {}
    return {
        "publish_api": reverse("api-nats-publish", args=[ctx.slug]),
        "publish_page": reverse("nats-publish", args=[ctx.slug]),
    }


urlpatterns: list[URLPattern] = [
    *endpoint(
        f"{C}/topics/<str:topic>/live",
        name="tail-topic",
        resource=TOPIC_MESSAGES,
        kind="kafka",
        template="tail/live.html",
        page={**KAFKA_PAGE, "tab": "topics"},
        get=topic_live,
    ),
    *endpoint(
        f"{C}/streams/<str:stream>/live",
        name="tail-stream",
        resource=STREAM_MESSAGES,
        kind="nats",
        template="tail/live.html",
        page=tab("streams"),
        get=stream_live,
    ),
    *endpoint(
        f"{C}/kv/<str:bucket>/live",
        name="tail-kv",
        resource=KV_VALUES,
        kind="nats",
        template="tail/live.html",
        page=tab("kv"),
        get=kv_live,
    ),
    *endpoint(
        f"{C}/live",
        name="tail-subject",
        resource=SUBJECT_MESSAGES,
        kind="nats",
        template="tail/live.html",
        page=tab("subjects"),
        get=subject_live,
    ),
]
