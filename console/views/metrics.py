"""``/metrics`` for Prometheus: read from the samples and statuses in the database, never from the brokers.

A bearer token of any active user with the read permission (``Authorization: Bearer sdk_...``; a logged-in
session works too), or nobody at all when ``STREAMDESK_METRICS_PUBLIC=true``.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from console.access import request_access
from console.web import json_error
from streams.lag import metrics


@login_not_required
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
        if not access.may_read:
            return json_error("This needs the Viewers or Operators role.", 403)
    body = await sync_to_async(metrics.render)()
    return HttpResponse(body, content_type=metrics.CONTENT_TYPE)


urlpatterns: list[URLPattern] = [path("metrics", metrics_view, name="metrics")]
