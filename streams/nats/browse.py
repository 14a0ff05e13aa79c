"""The JetStream message browser: direct get or message get, never a consumer.

Reads with direct get (one batched request) when the stream allows it and the
server is 2.11+, else with message get, one request per message. Neither creates a
consumer, so browsing leaves no trace on the server.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
from nats.errors import TimeoutError as NatsTimeoutError

from streams.errors import BrokerError, NotFound
from streams.nats.convert import as_dict, as_int, rfc3339, stored_message_from_direct, stored_message_from_msg_get
from streams.nats.jetstream import JS_API, JetStreamConnection
from streams.nats.types import StoredMessage

logger = logging.getLogger("streams.nats")

BATCH_GET_MIN_VERSION = (2, 11, 0)
BROWSE_MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class BrowseRequest:
    """What one browse reads, by direct get or by message get alike."""

    stream: str
    start: int | None
    since: datetime | None
    subject: str | None
    limit: int
    value_limit: int | None
    deadline: float

    def start_at(self) -> dict[str, Any]:
        """Where reading starts, in the JetStream API's words: a sequence, a time, or neither."""
        if self.start is not None:
            return {"seq": self.start}
        if self.since is not None:
            return {"start_time": rfc3339(self.since)}
        return {}


async def direct_batch(conn: JetStreamConnection, want: BrowseRequest) -> tuple[list[StoredMessage], bool]:
    nc = await conn._client()
    request: dict[str, Any] = {"batch": want.limit, "max_bytes": BROWSE_MAX_BYTES, **want.start_at()}
    if want.subject:
        request["next_by_subj"] = want.subject
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    found: list[StoredMessage] = []
    more = False
    try:
        await nc.publish(f"{JS_API}DIRECT.GET.{want.stream}", json.dumps(request).encode(), reply=inbox)
        # The server sends up to ``batch`` messages, then a 204 status carrying Nats-Num-Pending.
        while len(found) <= want.limit:
            remaining = want.deadline - time.monotonic()
            if remaining <= 0:
                more = True
                break
            try:
                msg = await sub.next_msg(timeout=remaining)
            except NatsTimeoutError:
                if not found:
                    raise
                more = True
                break
            headers = msg.headers or {}
            status = headers.get("Status")
            if not status:
                found.append(stored_message_from_direct(headers, msg.data, want.value_limit))
                continue
            if status == "204":
                more = as_int(headers.get("Nats-Num-Pending")) > 0
            elif status != "404":
                description = headers.get("Description", "")
                raise BrokerError(f"Direct get on stream {want.stream!r} answered {status} {description}".strip())
            break
    finally:
        try:
            await sub.unsubscribe()
        except nats.errors.Error:
            logger.debug("nats %s: unsubscribing the browse inbox failed", conn.config.slug, exc_info=True)
    return found, more


async def msg_get_loop(conn: JetStreamConnection, want: BrowseRequest) -> tuple[list[StoredMessage], bool]:
    found: list[StoredMessage] = []
    budget = BROWSE_MAX_BYTES
    request: dict[str, Any] = {"next_by_subj": want.subject or ">", **want.start_at()}
    while len(found) < want.limit:
        if time.monotonic() > want.deadline or budget <= 0:
            return found, True
        try:
            reply = await conn.api(f"STREAM.MSG.GET.{want.stream}", request, what=f"Messages of stream {want.stream!r}")
        except NotFound:
            # No message at or after the cursor (the stream itself was found above).
            return found, False
        stored = stored_message_from_msg_get(as_dict(reply.get("message")), want.value_limit)
        found.append(stored)
        budget -= stored.value.size
        request = {"seq": stored.seq + 1, "next_by_subj": want.subject or ">"}
    return found, True
