"""Subjects a NATS server knows of: live subscriptions and subjects stored in streams."""

from __future__ import annotations

from typing import Any

from console.apitypes import nats as api
from console.openapi import described
from console.params import choice_param, page_params, str_param
from console.views.nats.common import paged
from console.web import Ctx, Result
from streams.errors import InvalidInput
from streams.nats import adapter as nats_adapter
from streams.nats.subjects import SUBJECT_MAX_LENGTH, known_subjects, validate_subject
from streams.policies import SUBJECTS


@described(query=api.SubjectsQuery, answers={200: api.Subjects})
async def subjects_data(ctx: Ctx) -> Result:
    q = str_param(ctx.query, "q", max_length=SUBJECT_MAX_LENGTH).strip()
    source = choice_param(ctx.query, "source", ("subscription", "stream"))
    internal = choice_param(ctx.query, "internal", ("0", "1"), "0") == "1"
    page, size = page_params(ctx.query, default_size=100, max_size=1000)
    wildcard = any(part in ("*", ">") for part in q.split("."))
    if wildcard and (problem := validate_subject(q)):
        raise InvalidInput(f"q is not a valid subject pattern: {problem}.", field="q")
    found = await known_subjects(ctx.nats, q, source=source, include_internal=internal)
    rows = ctx.visible(SUBJECTS, list(found.rows), lambda r: r.subject)
    data: dict[str, Any] = {
        "items": [r.as_api() for r in paged(rows, page, size)],
        "total": len(rows),
        "page": page,
        "page_size": size,
        "q": q,
        **found.facts(),
    }
    # Read at request time: the limits are the adapter module's.
    limits = {"subjects_per_stream": nats_adapter.SUBJECTS_PER_STREAM, "subjects_total": nats_adapter.SUBJECTS_TOTAL}
    return Result(data, page=limits)
