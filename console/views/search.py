"""Searches: started on a topic (a read, though a POST), their progress and paged results, cancel."""

from __future__ import annotations

from urllib.parse import quote

from asgiref.sync import sync_to_async
from confluent_kafka import KafkaException
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.views.decorators.csrf import csrf_exempt

from console.access import Forbidden, audit_unmasked, read_mask, request_access
from console.apitypes import search as api
from console.openapi import described
from console.params import int_param
from console.resources import SEARCH, TOPIC_MESSAGES
from console.web import Ctx, Result, check_view, endpoint, guarded, json_error, reads
from streams import adapters, audit
from streams.errors import StreamdeskError
from streams.policies import MESSAGES, TOPICS
from streams.search import actions, export, filters, kafka_scan


@described(body=api.SearchStart, answers={202: api.SearchStarted})
@reads
async def start_kafka_search(ctx: Ctx) -> Result:
    params = actions.parse_params(ctx.body())
    topic = ctx.args["topic"]
    mask = await read_mask(ctx.user, ctx.slug, "topics", topic)
    rules = mask.covering(("topics", topic))
    search = await actions.do_start_kafka_search(ctx.user, ctx.config, topic, params, rules)
    await audit_unmasked(ctx.user, mask, "topics", topic, "search")
    return Result({"search": search.pk, "url": reverse("api-search", args=[search.pk])}, status=202)


@described(query=api.ResultsQuery, answers={200: api.SearchResults})
async def search_detail(ctx: Ctx) -> Result:
    search = await actions.get_search(ctx.user, ctx.args["search"])
    page = int_param(ctx.query, "page", 1, minimum=1, maximum=1_000_000) or 1
    page_size = int_param(ctx.query, "page_size", 100, minimum=1, maximum=1000) or 100
    kept = min(search.matched, int(search.params.get("limit") or actions.DEFAULT_LIMIT))
    items = await actions.results(search, (page - 1) * page_size, page_size)
    return Result({**search.as_api(), "results": items, "total_results": kept, "page": page, "page_size": page_size})


@described(answers={202: api.SearchCancelled}, errors=[409])
@reads
async def search_cancel(ctx: Ctx) -> Result:
    search = await actions.do_cancel_search(ctx.user, ctx.args["search"])
    return Result({**search.as_api(), "message": f"Search {search.pk} is being cancelled."}, status=202)


urlpatterns: list[URLPattern] = [
    *endpoint(
        "clusters/<slug:cluster>/topics/<str:topic>/search",
        name="kafka-search",
        resource=TOPIC_MESSAGES,
        kind="kafka",
        post=start_kafka_search,
    ),
    *endpoint("searches/<int:search>", name="search", resource=SEARCH, get=search_detail),
    *endpoint("searches/<int:search>/cancel", name="search-cancel", resource=SEARCH, post=search_cancel),
]


@guarded(TOPIC_MESSAGES)
async def export_view(request: HttpRequest, cluster: str, topic: str) -> HttpResponseBase:
    """A topic range as a download, paced by the client (see console.backpressure)."""
    try:
        access = await request_access(request)
        if not access.authenticated:
            return json_error("Authentication required.", 401)
        await check_view(request, access, MESSAGES, cluster, TOPICS, topic)
        config = await adapters.aget_config(cluster, "kafka")
        params = export.parse_query(request.GET)
        ranges = await sync_to_async(kafka_scan.resolve_ranges, thread_sensitive=False)(
            config, topic, params["partitions"], params["from"], params["until"]
        )
        match = filters.matcher(params["text"], params["jq"])
        mask = await read_mask(access.user, cluster, "topics", topic)
        rules = mask.covering(("topics", topic))
        # Masked messages are filtered on their masked view, never on their bytes.
        needle = (
            None if rules else filters.raw_needle(params["text"], params["jq"], filters.schema_reader(config, topic))
        )
    except Forbidden as exc:
        return json_error(exc.message, 403)
    except StreamdeskError as exc:
        return json_error(exc.message, exc.status, exc.field)
    except KafkaException as exc:
        return json_error(f"Kafka did not answer: {exc}", 503)
    await audit.record(
        access.user,
        export.KAFKA_EXPORT,
        cluster=cluster,
        target=topic,
        params={**params, "ranges": ranges, "masked": bool(rules)},
    )
    await audit_unmasked(access.user, mask, "topics", topic, "export")
    fmt = params["format"]
    response = StreamingHttpResponse(
        export.stream(config, topic, ranges, match, fmt, rules, needle=needle),
        content_type="application/x-ndjson" if fmt == "jsonl" else "text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(topic, safe='')}.{fmt}"
    return response


_export = login_not_required(csrf_exempt(export_view))
urlpatterns += [
    path("api/v1/clusters/<slug:cluster>/topics/<str:topic>/export", _export, name="api-kafka-export"),
    path("clusters/<slug:cluster>/topics/<str:topic>/export", _export, name="kafka-export"),
]
