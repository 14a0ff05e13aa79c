""" "What can I do here?": the user's groups, roles and the policies that apply to them, per cluster."""

from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern

from console.apitypes import access as api
from console.openapi import described
from console.resources import EVERYONE
from console.web import Ctx, Result, endpoint
from streams import adapters
from streams.policies import ACTIONS, KINDS, READ_ACTIONS


@described(answers={200: api.Me})
async def me_data(ctx: Ctx) -> Result:
    mine = ctx.policies
    read_only = settings.READ_ONLY or (ctx.token is not None and ctx.token.read_only)
    clusters = []
    for config in await adapters.aclusters():
        applying = mine.for_cluster(config.slug)
        if not applying:
            continue
        # Per resource type, the actions some policy grants on some of it here.
        granted: dict[str, list[str]] = {}
        for kind in KINDS:
            actions = [
                a
                for a in ACTIONS
                if (not read_only or a in READ_ACTIONS) and mine.decide_some(a, config.slug, kind).allowed
            ]
            if actions:
                granted[kind] = actions
        clusters.append(
            {
                "cluster": config.slug,
                "kind": config.kind,
                "name": config.name,
                "actions": granted,
                "policies": [p.as_api() for p in applying],
            }
        )
    data = {
        "username": ctx.user.get_username(),
        "groups": sorted(mine.groups),
        "roles": sorted(mine.roles),
        "read_only": read_only,
        "token": {"name": ctx.token.name, "read_only": ctx.token.read_only} if ctx.token is not None else None,
        "clusters": clusters,
    }
    return Result(data)


urlpatterns: list[URLPattern] = endpoint(
    "me", name="me", resource=EVERYONE, template="me.html", page={"nav": "me"}, get=me_data
)
