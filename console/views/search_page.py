"""The search page of a topic or of a JetStream stream (the same templates): a form whose values
are the URL's query, so a search can be bookmarked, shared and run again; a running search's
progress and results, polled by htmx until it ends; its export links with the same selectors.

Broker-neutral: a ``SearchPage`` says what differs (the position word, partitions or a subject,
how a search is started, where a result's message page is), the rest is shared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from console.access import Forbidden, audit_unmasked, can_operate, read_mask, request_access
from console.params import int_param
from console.resources import SEARCH, STREAM_MESSAGES, TOPIC_MESSAGES
from console.web import arender, check_view, error_page, guarded
from streams import adapters
from streams.errors import Conflict, InvalidInput, NotFound, StreamdeskError
from streams.policies import MESSAGES, STREAMS, TOPICS
from streams.search import actions, jetstream_scan
from streams.search.models import Search

PAGE_SIZE = 50
PREVIEW_CHARS = 300
# The form's fields, as the URL's query names them.
FIELDS = ("from", "from_n", "from_time", "until", "until_n", "until_time", "subject", "text", "jq", "limit", "max_scan")


@dataclass(frozen=True)
class SearchPage:
    """What one target's search page needs; ``kind`` is the search's: "kafka" (partition/offset) or "nats"
    (a JetStream stream: seq/subject)."""

    kind: str
    cluster: Any
    name: str
    url: str
    export_url: str
    back_url: str
    header: str
    start: Callable[[User, dict[str, Any]], Awaitable[Search]]
    message_url: Callable[[dict[str, Any]], str]
    partitions: list[int] = field(default_factory=list)

    @property
    def position(self) -> str:
        """The word for a place in the target: ``offset`` or ``seq``."""
        return "offset" if self.kind == "kafka" else "seq"


def form_values(data: QueryDict) -> dict[str, Any]:
    """The form's values as given (strings, partitions as a list), for filling the form again."""
    # Text and expressions are kept as typed: a leading space is part of a substring.
    values: dict[str, Any] = {name: data.get(name) or "" for name in FIELDS}
    for name in ("from_n", "from_time", "until_n", "until_time", "limit", "max_scan", "subject"):
        values[name] = values[name].strip()
    values["from"] = values["from"] or "beginning"
    values["until"] = values["until"] or "now"
    for name in ("from", "until"):
        _shorthand(values, name)
    partitions: list[int] = []
    for raw in data.getlist("partitions"):
        for part in raw.split(","):
            if part.strip().isdigit():
                partitions.append(int(part.strip()))
    values["partitions"] = sorted(set(partitions))
    return values


def _shorthand(values: dict[str, Any], name: str) -> None:
    """``seq:N``, ``offset:N``, ``last:N`` or ``time:ISO`` in one field (the export's form, and the stream
    page's short search form) as the page's choice and its number or time."""
    mode, sep, argument = values[name].strip().partition(":")
    if not sep or mode not in ("offset", "seq", "last", "time"):
        return
    values[name] = mode
    values[f"{name}_time" if mode == "time" else f"{name}_n"] = argument.strip()


def _utc(text: str) -> str:
    """A ``datetime-local`` value (no zone) is UTC, as the message browser's."""
    if text.endswith("Z") or "+" in text[10:] or "-" in text[10:]:
        return text
    return f"{text}+00:00"


def _where(values: dict[str, Any], name: str, position: str) -> Any:
    """A selector as the search API takes it: a word, ``{"offset"|"seq"|"last": N}`` or ``{"time": ISO}``."""
    mode = values[name]
    if mode in ("beginning", "now"):
        return mode
    if mode in (position, "last"):
        n = values[f"{name}_n"]
        if not n.isdigit():
            raise InvalidInput(f"{name}: give a whole number for {mode}.", field=name)
        return {mode: int(n)}
    if mode == "time":
        if not values[f"{name}_time"]:
            raise InvalidInput(f"{name}: give a time (UTC).", field=name)
        return {"time": _utc(values[f"{name}_time"])}
    raise InvalidInput(f"{name}: unknown choice {mode[:40]!r}.", field=name)


def _count(values: dict[str, Any], name: str) -> int | None:
    raw = values[name]
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput(f"{name} must be a whole number.", field=name)
    return int(raw)


def api_body(values: dict[str, Any], page: SearchPage) -> dict[str, Any]:
    """The search API's body for the form's values (400 naming the field where one is malformed)."""
    body: dict[str, Any] = {
        "from": _where(values, "from", page.position),
        "until": _where(values, "until", page.position),
        "text": values["text"] or None,
        "jq": values["jq"] or None,
        "limit": _count(values, "limit") or actions.DEFAULT_LIMIT,
        "max_scan": _count(values, "max_scan"),
    }
    if page.kind == "kafka":
        body["partitions"] = values["partitions"] or None
    else:
        body["subject"] = values["subject"] or None
    return body


def query_of(values: dict[str, Any], **extra: Any) -> str:
    """The values as the page's query string, leaving out what is empty."""
    pairs: list[tuple[str, Any]] = [(k, values[k]) for k in FIELDS if values.get(k)]
    pairs += [("partitions", p) for p in values.get("partitions") or []]
    pairs += [(k, v) for k, v in extra.items() if v is not None]
    return urlencode(pairs)


def _export_where(values: dict[str, Any], name: str, position: str) -> str | None:
    mode = values[name]
    if mode in ("beginning", "now"):
        return mode
    if mode in (position, "last") and values[f"{name}_n"].isdigit():
        return f"{mode}:{values[f'{name}_n']}"
    if mode == "time" and values[f"{name}_time"]:
        return f"time:{_utc(values[f'{name}_time'])}"
    return None


def export_query(values: dict[str, Any], page: SearchPage, fmt: str) -> str:
    """The export's query for the same selectors and filters (``from=offset:N`` and so on)."""
    pairs: list[tuple[str, str]] = [("format", fmt)]
    for name in ("from", "until"):
        if (where := _export_where(values, name, page.position)) is not None:
            pairs.append((name, where))
    if values["partitions"]:
        pairs.append(("partitions", ",".join(str(p) for p in values["partitions"])))
    if values["subject"] and page.kind != "kafka":
        pairs.append(("subject", values["subject"]))
    for name in ("text", "jq"):
        if values[name]:
            pairs.append((name, values[name]))
    return urlencode(pairs)


def preview(payload: Any) -> dict[str, Any]:
    """A result's key or value for a table cell: its text (or decoded data) cut short, else that it is binary."""
    if payload is None:
        return {"null": True}
    decoded = payload.get("decoded")
    if decoded is not None:
        import json

        text = json.dumps(decoded.get("data"), ensure_ascii=False, default=str)
    else:
        text = payload.get("text")
    if text is None:
        return {"binary": True, "size": len(payload.get("base64") or "") * 3 // 4}
    return {"text": text[:PREVIEW_CHARS], "cut": len(text) > PREVIEW_CHARS}


def result_rows(page: SearchPage, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "m": m,
            "url": page.message_url(m),
            "key": preview(m.get("key")),
            "value": preview(m.get("value")),
            "headers": [name for name, _ in m.get("headers") or []],
        }
        for m in messages
    ]


async def _panel(request: HttpRequest, page: SearchPage, search: Search, values: dict[str, Any]) -> dict[str, Any]:
    number = int_param(request.GET, "page", 1, minimum=1, maximum=1_000_000) or 1
    kept = min(search.matched, int(search.params.get("limit") or actions.DEFAULT_LIMIT))
    messages = await actions.results(search, (number - 1) * PAGE_SIZE, PAGE_SIZE)
    return {
        "search": search,
        "rows": result_rows(page, messages),
        "results": {"total": kept, "page": number, "page_size": PAGE_SIZE},
        "panel_url": f"{page.url}?{query_of(values, search=search.pk, page=number if number > 1 else None)}",
    }


async def _own_search(user: User, page: SearchPage, raw: str) -> Search | None:
    """The user's own search of this target, or None (another user's is as good as missing)."""
    if not raw.isdigit():
        return None
    try:
        search = await actions.get_search(user, int(raw))
    except NotFound:
        return None
    if (search.cluster, search.target) != (page.cluster.slug, page.name) or search.kind != page.kind:
        return None
    return search


async def render(request: HttpRequest, page: SearchPage) -> HttpResponse:
    """GET: the form from the query, with the search named by ``search=`` (the user's own, else 404).
    POST: start a search from the form and go to its URL (POST-redirect-GET); a bad field is a 400 on it."""
    user = request.user
    assert isinstance(user, User)
    htmx = getattr(request, "htmx", None)
    posting = request.method == "POST"
    values = form_values(request.POST if posting else request.GET)
    context: dict[str, Any] = {
        "cluster": page.cluster,
        "operator": await can_operate(user),
        "target": page,
        "values": values,
        "export_jsonl": f"{page.export_url}?{export_query(values, page, 'jsonl')}",
        "export_csv": f"{page.export_url}?{export_query(values, page, 'csv')}",
    }
    status = 200
    if posting:
        try:
            started = await page.start(user, api_body(values, page))
        except InvalidInput as exc:
            context.update({"form_error": exc.message, "form_field": exc.field})
            return await arender(request, "search/page.html", context, 400)
        return HttpResponseRedirect(f"{page.url}?{query_of(values, search=started.pk)}", status=303)
    raw = request.GET.get("search") or ""
    if raw:
        search = await _own_search(user, page, raw)
        if search is None:
            status = 404
            context["missing"] = raw[:20]
        else:
            context.update(await _panel(request, page, search, values))
    if htmx and htmx.target == "search-panel" and not htmx.history_restore_request:
        return await arender(request, "search/_panel.html", context, status)
    return await arender(request, "search/page.html", context, status)


PageBuilder = Callable[[HttpRequest, Any, str], Awaitable[SearchPage]]


def page_view(build: PageBuilder, kind: str) -> Callable[..., Any]:
    """A target's search page: whoever may read its messages may search (a read, though the form posts);
    ``kind``: the policies' resource type of the target."""

    async def view(request: HttpRequest, cluster: str, name: str) -> HttpResponse:
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponse(status=405, headers={"Allow": "GET, POST"})
        access = await request_access(request)
        request.user = access.user
        try:
            if not access.authenticated:
                raise Forbidden("Log in to search.")
            await check_view(request, access, MESSAGES, cluster, kind, name)
            page = await build(request, cluster, name)
            return await render(request, page)
        except Forbidden as exc:
            return await error_page(request, exc.message, 403)
        except StreamdeskError as exc:
            return await error_page(request, exc.message, exc.status, exc.field)

    return view


async def cancel_view(request: HttpRequest, search: int) -> HttpResponse:
    """The Cancel button without JavaScript: cancel, then back to the page it was pressed on."""
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    access = await request_access(request)
    user = request.user = access.user
    back = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=request.is_secure()):
        back = "/"
    try:
        if not access.authenticated:
            raise Forbidden("Log in to cancel a search.")
        # Someone else's search is 404; one's own needs the messages of its target still.
        found = await actions.get_search(cast(User, user), search)
        kind = TOPICS if found.kind == "kafka" else STREAMS
        await check_view(request, access, MESSAGES, found.cluster, kind, found.target)
        await actions.do_cancel_search(cast(User, user), search)
    except Conflict:
        pass  # it ended meanwhile: the page says how
    except Forbidden as exc:
        return await error_page(request, exc.message, 403)
    except StreamdeskError as exc:
        return await error_page(request, exc.message, exc.status, exc.field)
    return HttpResponseRedirect(back, status=303)


# -- Kafka topics ---------------------------------------------------------------------------


async def kafka_topic(request: HttpRequest, slug: str, topic: str) -> SearchPage:
    config = await adapters.aget_config(slug, "kafka")
    info = await adapters.kafka(config).topic(topic)
    messages = reverse("kafka-messages", args=[slug, topic])

    async def start(user: User, body: dict[str, Any]) -> Search:
        mask = await read_mask(user, slug, "topics", topic)
        rules = mask.covering(("topics", topic))
        search = await actions.do_start_kafka_search(user, config, topic, actions.parse_params(body), rules)
        await audit_unmasked(user, mask, "topics", topic, "search")
        return search

    def message_url(m: dict[str, Any]) -> str:
        return f"{messages}?{urlencode({'partition': m.get('partition'), 'offset': m.get('offset'), 'full': 1})}"

    return SearchPage(
        kind="kafka",
        cluster=config,
        name=topic,
        url=reverse("kafka-search", args=[slug, topic]),
        export_url=reverse("kafka-export", args=[slug, topic]),
        back_url=reverse("kafka-topic", args=[slug, topic]),
        header="kafka/_topic_header.html",
        start=start,
        message_url=message_url,
        partitions=info.partition_ids,
    )


# -- JetStream streams ----------------------------------------------------------------------


async def jetstream_stream(request: HttpRequest, slug: str, stream: str) -> SearchPage:
    config = await adapters.aget_config(slug, "nats")
    await adapters.nats(config).stream(stream)  # an unknown stream is a 404 here, not a failed search

    async def start(user: User, body: dict[str, Any]) -> Search:
        mask = await read_mask(user, slug, "streams", stream)
        rules = jetstream_scan.stream_rules(mask, stream)
        search = await actions.do_start_stream_search(user, config, stream, actions.parse_stream_params(body), rules)
        await audit_unmasked(user, mask, "streams", stream, "search")
        return search

    def message_url(m: dict[str, Any]) -> str:
        return reverse("nats-message", args=[slug, stream, int(m.get("seq") or 0)])

    return SearchPage(
        kind="nats",
        cluster=config,
        name=stream,
        url=reverse("nats-search-page", args=[slug, stream]),
        export_url=reverse("nats-export", args=[slug, stream]),
        back_url=reverse("nats-stream", args=[slug, stream]),
        header="nats/_stream_search_header.html",
        start=start,
        message_url=message_url,
    )


urlpatterns: list[URLPattern] = [
    path(
        "clusters/<slug:cluster>/topics/<str:name>/search",
        guarded(TOPIC_MESSAGES)(page_view(kafka_topic, TOPICS)),
        name="kafka-search",
    ),
    path(
        "clusters/<slug:cluster>/streams/<str:name>/search",
        guarded(STREAM_MESSAGES)(page_view(jetstream_stream, STREAMS)),
        name="nats-search-page",
    ),
    path("searches/<int:search>/cancel", guarded(SEARCH)(cancel_view), name="search-cancel"),
]
