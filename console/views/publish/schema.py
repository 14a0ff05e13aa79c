"""The publish form's schema panel: the schema a part names and an example value from it."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from console.apitypes import publish as api
from console.openapi import described
from console.web import Ctx, Result
from streams.publish import schemas as schema_parts


@described(query=api.SchemaPanelQuery, answers={200: api.SchemaPanel})
async def schema_panel(ctx: Ctx) -> Result:
    """The schema a publish form names for a part, and an example value from it (the page swaps it in with htmx)."""
    query = ctx.query
    part = schema_parts.KEY if query.get("part") == "key" else schema_parts.VALUE
    encoding = query.get(part.encoding) or query.get("encoding") or "text"
    if not schema_parts.uses_schema(encoding):
        return Result({"schema": None, "part": part.name}, page={"panel": None, "part": part.name})
    fields = {name: query.get(name) for name in query}
    if part is schema_parts.KEY:
        # The API twin takes the value's plain names for either part.
        for plain in ("schema_subject", "schema_version", "schema_id"):
            fields.setdefault(f"key_{plain}", fields.get(plain))
        fields.setdefault("key_type", fields.get("type"))
    for plain, flat in (("subject", "schema_subject"), ("version", "schema_version"), ("id", "schema_id")):
        if query.get(plain):
            fields[f"{part.prefix}{flat}"] = query.get(plain)
    ref = part.ref(fields)
    if not ref.get("subject") and ref.get("id") is None:
        message = "Choose a subject (and version) or a schema id."
        return Result(
            {"schema": None, "part": part.name, "message": message},
            page={"panel": None, "part": part.name, "hint": message},
        )
    panel = await sync_to_async(schema_parts.schema_panel, thread_sensitive=False)(ctx.config, part, encoding, ref)
    return Result({"schema": panel, "part": part.name}, page={"panel": panel, "part": part.name})
