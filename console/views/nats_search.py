"""JetStream search and export: a search started on a stream (a read, though a POST), and a
stream range as a download. Progress and results are the searches' own endpoints (``search``);
the stream's search page is ``search_page``'s, as a topic's."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.views.decorators.csrf import csrf_exempt

from console.access import Forbidden, audit_unmasked, read_mask, request_access
from console.apitypes import search as api
from console.openapi import described
from console.resources import STREAM_MESSAGES
from console.web import Ctx, Result, check_view, endpoint, guarded, json_error, reads
from streams import adapters, audit
from streams.errors import StreamdeskError
from streams.policies import MESSAGES, STREAMS
from streams.search import actions, filters, jetstream_export, jetstream_scan


@described(body=api.StreamSearchStart, answers={202: api.SearchStarted})
@reads
async def start_stream_search(ctx: Ctx) -> Result:
    params = actions.parse_stream_params(ctx.body())
    stream = ctx.args["stream"]
    mask = await read_mask(ctx.user, ctx.slug, "streams", stream)
    rules = jetstream_scan.stream_rules(mask, stream)
    search = await actions.do_start_stream_search(ctx.user, ctx.config, stream, params, rules)
    await audit_unmasked(ctx.user, mask, "streams", stream, "search")
    return Result({"search": search.pk, "url": reverse("api-search", args=[search.pk])}, status=202)


urlpatterns: list[URLPattern] = [
    *endpoint(
        "clusters/<slug:cluster>/streams/<str:stream>/search",
        name="nats-search",
        resource=STREAM_MESSAGES,
        kind="nats",
        post=start_stream_search,
    ),
]


@guarded(STREAM_MESSAGES)
async def export_view(request: HttpRequest, cluster: str, stream: str) -> HttpResponseBase:
    """A stream range as a download, paced by the client (see console.backpressure)."""
    try:
        access = await request_access(request)
        if not access.authenticated:
            return json_error("Authentication required.", 401)
        await check_view(request, access, MESSAGES, cluster, STREAMS, stream)
        config = await adapters.aget_config(cluster, "nats")
        params = jetstream_export.parse_query(request.GET)
        span = await jetstream_scan.resolve_range(
            adapters.nats(config), stream, params["from"], params["until"], params["subject"]
        )
        match = filters.matcher(params["text"], params["jq"])
    except Forbidden as exc:
        return json_error(exc.message, 403)
    except StreamdeskError as exc:
        return json_error(exc.message, exc.status, exc.field)
    ranges = {"seq": span}
    mask = await read_mask(access.user, cluster, "streams", stream)
    rules = jetstream_scan.stream_rules(mask, stream)
    await audit.record(
        access.user,
        jetstream_export.NATS_EXPORT,
        cluster=cluster,
        target=stream,
        params={**params, "ranges": ranges, "masked": bool(rules)},
    )
    await audit_unmasked(access.user, mask, "streams", stream, "export")
    fmt = params["format"]
    body = jetstream_export.stream(config, stream, span, params, match, rules)
    response = StreamingHttpResponse(
        body, content_type="application/x-ndjson" if fmt == "jsonl" else "text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(stream, safe='')}.{fmt}"
    return response


_export = login_not_required(csrf_exempt(export_view))
urlpatterns += [
    path("api/v1/clusters/<slug:cluster>/streams/<str:stream>/export", _export, name="api-nats-export"),
    path("clusters/<slug:cluster>/streams/<str:stream>/export", _export, name="nats-export"),
]
