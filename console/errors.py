"""Error pages that answer JSON under /api/ and HTML elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from console.web import json_error


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error("Not found.", 404)
    return render(request, "error.html", {"error": "Page not found.", "status": 404}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_error("Internal error; the server log has the details.", 500)
    return render(request, "error.html", {"error": "Internal error.", "status": 500}, status=500)
