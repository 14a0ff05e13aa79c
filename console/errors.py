"""Error pages that answer JSON under /api/ and HTML elsewhere."""

from __future__ import annotations

import sys

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt

from console.access import LOGIN_REQUIRED, request_access
from console.web import DATABASE_DOWN, DATABASE_UNAVAILABLE, json_error


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error("Not found.", 404)
    return render(request, "error.html", {"error": "Page not found.", "status": 404}, status=404)


@login_not_required
@csrf_exempt
async def api_fallback(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Unknown API paths: 401 for strangers (never a login redirect), else 404 JSON."""
    access = await request_access(request)
    if not access.authenticated:
        return json_error(access.refusal or LOGIN_REQUIRED, 401)
    return json_error(f"No API endpoint at {request.path}.", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    if isinstance(sys.exc_info()[1], DATABASE_DOWN):
        return database_unavailable(request)
    if request.path.startswith("/api/"):
        return json_error("Internal error; the server log has the details.", 500)
    return render(request, "error.html", {"error": "Internal error.", "status": 500}, status=500)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """The database did not answer (connect or statement timeout, connection lost): a 503, and a
    page that needs nothing from the database (no user, no session) to render."""
    if request.path.startswith("/api/"):
        return json_error(DATABASE_UNAVAILABLE, 503)
    return render(request, "unavailable.html", {"error": DATABASE_UNAVAILABLE}, status=503)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON under /api/, Django's own page elsewhere."""
    if request.path.startswith("/api/"):
        return json_error("CSRF token missing or wrong; send X-CSRFToken or use a bearer token.", 403)
    return django_csrf_failure(request, reason)
