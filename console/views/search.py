"""Searches: started on a topic (a read, though a POST), their progress and paged results, cancel."""

from __future__ import annotations

from django.urls import URLPattern, reverse

from console.params import int_param
from console.web import Ctx, Result, endpoint, reads
from streams.search import actions


@reads
async def start_kafka_search(ctx: Ctx) -> Result:
    params = actions.parse_params(ctx.body())
    search = await actions.do_start_kafka_search(ctx.user, ctx.config, ctx.args["topic"], params)
    return Result({"search": search.pk, "url": reverse("api-search", args=[search.pk])}, status=202)


async def search_detail(ctx: Ctx) -> Result:
    search = await actions.get_search(ctx.user, ctx.args["search"])
    page = int_param(ctx.query, "page", 1, minimum=1) or 1
    page_size = int_param(ctx.query, "page_size", 100, minimum=1, maximum=1000) or 100
    kept = min(search.matched, int(search.params.get("limit") or actions.DEFAULT_LIMIT))
    items = await actions.results(search, (page - 1) * page_size, page_size)
    return Result({**search.as_api(), "results": items, "total_results": kept, "page": page, "page_size": page_size})


@reads
async def search_cancel(ctx: Ctx) -> Result:
    search = await actions.do_cancel_search(ctx.user, ctx.args["search"])
    return Result({**search.as_api(), "message": f"Search {search.pk} is being cancelled."}, status=202)


urlpatterns: list[URLPattern] = [
    *endpoint(
        "clusters/<slug:cluster>/topics/<str:topic>/search", name="kafka-search", kind="kafka", post=start_kafka_search
    ),
    *endpoint("searches/<int:search>", name="search", get=search_detail),
    *endpoint("searches/<int:search>/cancel", name="search-cancel", post=search_cancel),
]
