"""Kafka ACLs: the list with filters, create, and delete by an explicit filter."""

from __future__ import annotations

from typing import Any

from console.apitypes import kafka as api
from console.openapi import described
from console.web import Ctx, Result, writes
from streams.errors import NotSupported
from streams.kafka import actions
from streams.kafka.acls import (
    FIELDS,
    OPERATIONS,
    PATTERNS,
    PERMISSIONS,
    RESOURCE_TYPES,
    acl_from,
    filter_from,
    list_acls,
)

LIST_FILTERS = ("principal", "resource_type", "name")


@described(query=api.AclQuery, answers={200: api.AclList})
async def acls_list(ctx: Ctx) -> Result:
    # The list filters on what the query names; an absent filter matches anything.
    acl_filter = filter_from({k: ctx.query.get(k, "") for k in LIST_FILTERS}, explicit=False)
    choices = {
        "resource_types": list(RESOURCE_TYPES),
        "operations": list(OPERATIONS),
        "permissions": list(PERMISSIONS),
        "patterns": list(PATTERNS),
        "fields": FIELDS,
    }
    try:
        items = await list_acls(ctx.kafka, acl_filter)
    except NotSupported as exc:
        if ctx.is_api:
            raise
        # The page keeps its tabs and says why there is nothing to list.
        return Result({"items": [], "unsupported": exc.message}, page=choices)
    return Result({"items": [a.as_api() for a in items]}, page=choices)


@described(body=api.Acl, answers={201: api.AclCreated})
@writes(actions.ACL_CREATE, needs="edit")
async def acl_create(ctx: Ctx) -> Result:
    acl = acl_from(ctx.body())
    await actions.do_create_acl(ctx.user, ctx.config, acl)
    return Result({**acl.as_api(), "message": f"ACL created: {acl.describe()}."}, status=201)


@described(body=api.AclFilter, answers={200: api.AclsDeleted})
@writes(actions.ACL_DELETE, needs="delete")
async def acl_delete(ctx: Ctx) -> dict[str, Any]:
    acl_filter = filter_from(ctx.body(), explicit=True)
    deleted = await actions.do_delete_acls(ctx.user, ctx.config, acl_filter)
    return {
        "deleted": len(deleted),
        "items": [a.as_api() for a in deleted],
        "message": f"{len(deleted)} ACL{'' if len(deleted) == 1 else 's'} deleted.",
    }
