"""The JetStream message browser (direct or message get, never a consumer), one message, delete."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async

from console.access import audit_unmasked, read_mask
from console.apitypes import nats as api
from console.openapi import described
from console.params import bool_param, datetime_param, int_param
from console.views.nats.common import subject_param
from console.web import Ctx, Result, require_confirmation, writes
from streams import payloads
from streams.clusters import ClusterConfig
from streams.errors import InvalidInput
from streams.masking import Mask
from streams.nats import actions
from streams.nats.types import StoredMessage
from streams.schemas.decode import decode_payload

BROWSE_MAX = 500


def decode_stored(cluster: ClusterConfig, messages: list[StoredMessage]) -> list[StoredMessage]:
    """Each value decoded by schema, bound by its subject (blocking: the registry may be asked once)."""
    return [replace(m, value=decode_payload(cluster, m.subject, "value", m.value)) for m in messages]


async def _decoded(ctx: Ctx, messages: list[StoredMessage]) -> list[StoredMessage]:
    if not ctx.config.decodes or not messages:
        return messages
    return await sync_to_async(decode_stored, thread_sensitive=False)(ctx.config, messages)


def _browse_url(ctx: Ctx, **changes: Any) -> str:
    query = {k: v for k, v in ctx.query.items() if k not in ("seq", "since", "full")}
    query.update({k: v for k, v in changes.items() if v is not None})
    return f"?{urlencode(query)}"


def _masked(mask: Mask, stream: str, message: StoredMessage) -> StoredMessage:
    """A stored message as its reader sees it: rules may name the stream or the message's subject."""
    return mask.message(message, ("streams", stream), ("subjects", message.subject))


@described(query=api.MessagesQuery, answers={200: api.Messages})
async def messages_data(ctx: Ctx) -> Result:
    name = ctx.args["stream"]
    seq = int_param(ctx.query, "seq", None, minimum=1, maximum=2**63 - 1)
    since = datetime_param(ctx.query, "since")
    if seq is not None and since is not None:
        raise InvalidInput("Give seq or since, not both.", field="since")
    subject = subject_param(ctx.query, "subject")
    limit = int_param(ctx.query, "limit", 50, minimum=1, maximum=BROWSE_MAX)
    assert limit is not None
    browse = await ctx.nats.messages(name, seq=seq, since=since, subject=subject, limit=limit)
    browse = replace(browse, messages=await _decoded(ctx, browse.messages))
    mask = await read_mask(ctx.user, ctx.slug, "streams", name)
    browse = replace(browse, messages=[_masked(mask, name, m) for m in browse.messages])
    await audit_unmasked(ctx.user, mask, "streams", name, "browse")
    data = browse.as_api()
    data.update({"seq": seq, "since": since, "subject": subject, "limit": limit})
    start = browse.messages[0].seq if browse.messages else (seq or browse.first_seq)
    page = {
        "stored": browse.messages,
        "latest_url": _browse_url(ctx, seq=max(browse.first_seq, browse.last_seq - limit + 1, 1)),
        "first_url": _browse_url(ctx, seq=max(browse.first_seq, 1)),
        "next_url": _browse_url(ctx, seq=browse.next_seq) if browse.next_seq else None,
        "prev_url": _browse_url(ctx, seq=max(browse.first_seq, start - limit, 1)) if start > browse.first_seq else None,
    }
    return Result(data, page=page)


@described(query=api.MessageQuery, answers={200: api.OneMessage})
async def message_data(ctx: Ctx) -> Result:
    """One message, its value cut at the display limit like the list; ``full=1`` shows up to FULL_DISPLAY_LIMIT."""
    name, seq = ctx.args["stream"], ctx.args["seq"]
    full = bool_param(ctx.query, "full", False)
    limit = payloads.FULL_DISPLAY_LIMIT if full else payloads.DISPLAY_LIMIT
    message = await ctx.nats.message(name, seq, limit=limit)
    (message,) = await _decoded(ctx, [message])
    mask = await read_mask(ctx.user, ctx.slug, "streams", name)
    message = _masked(mask, name, message)
    await audit_unmasked(ctx.user, mask, "streams", name, "message")
    data = {"stream": name, "message": message.as_api(), "full": full, "limit": limit}
    return Result(data, page={"message": message})


@described(body=api.MessageDelete, answers={200: api.MessageDeleted})
@writes(actions.MESSAGE_DELETE, needs="delete")
async def message_delete(ctx: Ctx) -> dict[str, Any]:
    name, seq = ctx.args["stream"], ctx.args["seq"]
    erase = bool_param(ctx.body(), "erase", False)
    require_confirmation(ctx, str(seq), what="deleting the message")
    await actions.do_delete_message(ctx.user, ctx.config, name, seq, erase=erase)
    return {"deleted": seq, "stream": name, "message": f"Message {seq} deleted from {name}."}
