"""The audit trail: every write, who made it, and how it ended."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern

from console.apitypes import audit as api
from console.openapi import described
from console.params import page_params, str_param
from console.resources import OPERATORS
from console.web import Ctx, endpoint
from streams.models import AuditEvent


@described(query=api.AuditQuery, answers={200: api.AuditList})
async def audit_data(ctx: Ctx) -> dict[str, Any]:
    page, size = page_params(ctx.query)
    events = AuditEvent.objects.all()
    for name in ("action", "cluster", "username", "result"):
        value = str_param(ctx.query, name, max_length=150)
        if value:
            events = events.filter(**{name: value})
    total = await events.acount()
    rows = [
        {
            "id": e.pk,
            "at": e.created_at,
            "username": e.username,
            "action": e.action,
            "cluster": e.cluster,
            "target": e.target,
            "params": e.params,
            "result": e.result,
            "message": e.message,
        }
        async for e in events[(page - 1) * size : page * size]
    ]
    return {"items": rows, "total": total, "page": page, "page_size": size}


urlpatterns: list[URLPattern] = endpoint(
    "audit", name="audit", resource=OPERATORS, template="audit/list.html", partial="audit/_table.html", get=audit_data
)
