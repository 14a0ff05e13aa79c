"""``/metrics`` for Prometheus: read from the samples and statuses in the database, never from the brokers.

A bearer token of an active user with the Operators role (``Authorization: Bearer sdk_...``; a logged-in
session works too), or nobody at all when ``STREAMDESK_METRICS_PUBLIC=true``. The numbers span every
cluster and resource, so no policy grants them, only the role.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from console.access import OPERATORS_ONLY, can_stop, request_access
from console.resources import OPERATORS
from console.web import guarded, json_error
from streams.lag import metrics


@login_not_required
@guarded(OPERATORS)
async def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET"})
    if not settings.METRICS_PUBLIC:
        access = await request_access(request)
        if not access.authenticated:
            message = access.refusal or "Authentication required: send 'Authorization: Bearer <token>'."
            response = json_error(message, 401)
            response["WWW-Authenticate"] = 'Bearer realm="streamdesk"'
            return response
        if not await can_stop(access.user):
            return json_error(OPERATORS_ONLY, 403)
    body = await sync_to_async(metrics.render)()
    return HttpResponse(body, content_type=metrics.CONTENT_TYPE)


urlpatterns: list[URLPattern] = [path("metrics", metrics_view, name="metrics")]
