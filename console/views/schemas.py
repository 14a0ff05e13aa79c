"""Schema Registry pages and their JSON twins: subjects, a subject's versions with a diff, and the writes.

Subject names may hold ``/`` and ``.``: they are routed with the path converter, and the
verb routes (``/check``, ``/config``, the page forms) are declared before the subject itself.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.urls import URLPattern, reverse

from console.apitypes import schemas as api
from console.openapi import described
from console.params import page_params, str_param
from console.resources import SCHEMA_LIST, SCHEMA_SUBJECT
from console.views.kafka.common import KIND, PAGE
from console.web import Ctx, Result, action, endpoint, reads, require_confirmation, writes
from streams.errors import InvalidInput, StreamdeskError
from streams.policies import SCHEMA_SUBJECTS, VIEW
from streams.schemas import subjects
from streams.schemas.registry import registry_for

C = "clusters/<slug:cluster>"


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=False)
    except ValueError:
        return text


def _diff(versions: list[dict[str, Any]], a: int, b: int) -> str:
    by_number = {v["version"]: v for v in versions}
    if a not in by_number or b not in by_number:
        return ""
    return "\n".join(
        difflib.unified_diff(
            _pretty(by_number[a]["schema"]).splitlines(),
            _pretty(by_number[b]["schema"]).splitlines(),
            f"version {a}",
            f"version {b}",
            lineterm="",
        )
    )


def _int_query(ctx: Ctx, name: str) -> int | None:
    raw = ctx.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a version number.", field=name) from None


@described(query=api.SubjectsQuery, answers={200: api.Subjects})
async def schemas_list(ctx: Ctx) -> dict[str, Any]:
    q = str_param(ctx.query, "q", max_length=1000).strip()
    # Each subject shown costs two registry calls (latest version, own compatibility): pages stay short.
    page, size = page_params(ctx.query, default_size=50, max_size=200)
    found = await subjects.list_subjects(ctx.config, q, page, size, lambda s: ctx.may(VIEW, SCHEMA_SUBJECTS, s))
    if ctx.is_api:
        return found
    return {**found, "page": page, "page_size": size, "q": q}


@described(answers={200: api.Subject})
async def schema_detail(ctx: Ctx) -> Result:
    subject = ctx.args["subject"]
    found = await subjects.subject_detail(ctx.config, subject)
    found["topic"] = await _topic_of(ctx, subject)
    if ctx.is_api:
        return Result(found)
    versions = found["versions"]
    numbers = [v["version"] for v in versions]
    shown = _int_query(ctx, "version") or (numbers[-1] if numbers else None)
    a = _int_query(ctx, "a")
    b = _int_query(ctx, "b")
    if a is None and len(numbers) > 1:
        a, b = numbers[-2], numbers[-1]
    chosen = next((v for v in versions if v["version"] == shown), None)
    return Result(
        found,
        page={
            "chosen": chosen,
            "chosen_text": _pretty(chosen["schema"]) if chosen else "",
            "diff_a": a,
            "diff_b": b,
            "diff": _diff(versions, a, b) if a is not None and b is not None else "",
            "levels": subjects.COMPATIBILITY,
            "types": subjects.TYPES,
        },
    )


async def _topic_of(ctx: Ctx, subject: str) -> str | None:
    """The subject's topic by TopicNameStrategy, when the cluster has it (a broker that is down: not linked)."""
    topic = subjects.topic_of(subject)
    if topic is None:
        return None
    try:
        await ctx.kafka.topic(topic)
    except StreamdeskError:
        return None
    return topic


@described(body=api.SchemaText, answers={200: api.Verdict})
@reads
async def schema_check(ctx: Ctx) -> dict[str, Any]:
    return await subjects.check(ctx.config, ctx.args["subject"], ctx.body())


@described(body=api.SchemaText, answers={201: api.Registered}, errors=[409])
@writes(subjects.SCHEMA_REGISTER, needs="edit")
async def schema_register(ctx: Ctx) -> Result:
    subject = ctx.args["subject"]
    body = ctx.body()
    if not ctx.is_api and body.get("check_only"):
        verdict = await subjects.check(ctx.config, subject, body)
        ok = "compatible" if verdict["compatible"] else "not compatible"
        return Result({**verdict, "message": f"The schema is {ok}. " + "; ".join(verdict["messages"])})
    found = await subjects.do_register(ctx.user, ctx.config, subject, body)
    return Result({**found, "message": f"Registered version {found['version']} (id {found['id']})."}, status=201)


@described(body=api.Compatibility, answers={200: api.CompatibilitySet})
@writes(subjects.SCHEMA_CONFIG, needs="edit")
async def schema_config(ctx: Ctx) -> dict[str, Any]:
    subject = ctx.args["subject"]
    found = await subjects.do_set_compatibility(ctx.user, ctx.config, subject, ctx.body().get("compatibility"))
    return {**found, "message": f"Compatibility of {subject} set to {found['compatibility']}."}


@described(query=api.DeleteQuery, answers={200: api.SubjectDeleted})
@writes(subjects.SCHEMA_DELETE, needs="delete")
async def schema_delete(ctx: Ctx) -> dict[str, Any]:
    subject = ctx.args["subject"]
    require_confirmation(ctx, subject, what="the delete")
    raw = ctx.query.get("permanent") if ctx.is_api else ctx.body().get("permanent")
    if raw not in (None, "", "true", "false", "1", "0", "on"):
        raise InvalidInput("permanent must be true or false.", field="permanent")
    permanent = raw in ("true", "1", "on")
    versions = await subjects.do_delete_subject(ctx.user, ctx.config, subject, permanent)
    how = "permanently deleted" if permanent else "deleted (soft)"
    return {"subject": subject, "versions": versions, "permanent": permanent, "message": f"{subject} {how}."}


def has_registry(cluster: Any) -> bool:
    return cluster is not None and registry_for(cluster) is not None


SCHEMAS_PAGE = {**PAGE, "tab": "schemas"}
S = f"{C}/schemas/<path:subject>"


def _subject_url(ctx: Ctx, data: dict[str, Any]) -> str:
    return reverse("schemas-subject", args=[ctx.slug, ctx.args["subject"]])


urlpatterns: list[URLPattern] = [
    *endpoint(
        f"{C}/schemas",
        name="schemas",
        resource=SCHEMA_LIST,
        kind=KIND,
        template="schemas/list.html",
        page=SCHEMAS_PAGE,
        get=schemas_list,
    ),
    *endpoint(f"{S}/check", name="schemas-subject-check", resource=SCHEMA_SUBJECT, kind=KIND, post=schema_check),
    *endpoint(f"{S}/config", name="schemas-subject-config", resource=SCHEMA_SUBJECT, kind=KIND, put=schema_config),
    *action(
        f"{S}/set-config",
        name="schemas-subject-setconfig",
        resource=SCHEMA_SUBJECT,
        kind=KIND,
        handler=schema_config,
        redirect=_subject_url,
    ),
    *action(
        f"{S}/delete",
        name="schemas-subject-delete",
        resource=SCHEMA_SUBJECT,
        kind=KIND,
        handler=schema_delete,
        redirect=lambda ctx, data: reverse("schemas", args=[ctx.slug]),
    ),
    *endpoint(
        S,
        name="schemas-subject",
        resource=SCHEMA_SUBJECT,
        kind=KIND,
        template="schemas/subject.html",
        form="schemas/_register_outcome.html",
        page=SCHEMAS_PAGE,
        get=schema_detail,
        post=schema_register,
        delete=schema_delete,
    ),
]
