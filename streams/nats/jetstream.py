"""The JetStream API over the cluster's connection: one request, paged lists, typed errors.

JetStream is read and changed through its JSON API (``$JS.API.*``) directly: the
answers stay plain dicts (cheap for a thousand streams), every paged list is read
to the end, and each ``error`` object maps to one typed error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from nats.errors import NoRespondersError

from streams import jsontext
from streams.errors import (
    BrokerError,
    BrokerUnavailable,
    Conflict,
    InvalidInput,
    NotFound,
    NotSupported,
    StreamdeskError,
)
from streams.nats.connection import NatsConnection
from streams.nats.convert import as_int

logger = logging.getLogger("streams.nats")

JS_API = "$JS.API."
# Paged lists: pages asked for at once, and pages read at most (256 items each).
LIST_CONCURRENCY = 8
LIST_MAX_PAGES = 400

# err_code -> the typed error it becomes. The server's "code" decides the rest.
JS_NOT_FOUND = {10059, 10014, 10037, 10043}
JS_NOT_ENABLED = {10039, 10076}
JS_CONFLICT = {10058, 10148, 10013}


def js_error(error: Any, what: str) -> StreamdeskError:
    """A JetStream API ``error`` object as one typed error."""
    info = error if isinstance(error, dict) else {}
    code = as_int(info.get("code"))
    err_code = as_int(info.get("err_code"))
    description = str(info.get("description") or "error")
    message = f"{what}: {description}"
    if err_code in JS_NOT_FOUND or code == 404:
        return NotFound(message)
    if err_code in JS_NOT_ENABLED:
        return NotSupported(f"{what}: JetStream is not enabled for this account")
    if err_code in JS_CONFLICT or code == 409:
        return Conflict(message)
    if code == 400:
        return InvalidInput(message)
    if code == 503:
        return BrokerUnavailable(message)
    return BrokerError(f"{what} failed: {description} (code {code}, err_code {err_code})")


def valid_name(name: str) -> bool:
    """Stream and consumer names become subject tokens: no dots, wildcards, spaces or slashes."""
    return (
        0 < len(name) <= 255
        and not any(ch in name for ch in ".*>/\\")
        and not any(ch.isspace() or ord(ch) < 32 for ch in name)
    )


def require_name(kind: str, name: str) -> None:
    if not valid_name(name):
        raise NotFound(f"No {kind} named {name[:80]!r}: that is not a valid {kind} name.")


class JetStreamConnection(NatsConnection):
    async def api(self, api: str, body: dict[str, Any] | None = None, *, what: str) -> dict[str, Any]:
        """One JetStream API request; its ``error`` object becomes a typed error."""
        nc = await self._client()
        payload = b"" if body is None else json.dumps(body).encode()
        try:
            reply = await nc.request(JS_API + api, payload, timeout=self.timeout)
        except NoRespondersError:
            raise NotSupported(f"{what}: JetStream is not enabled on this server (no responders)") from None
        try:
            data = jsontext.loads(reply.data)
        except ValueError:
            raise BrokerError(f"{what}: the server answered something that is not JSON") from None
        if not isinstance(data, dict):
            raise BrokerError(f"{what}: the server answered something that is not an object")
        if data.get("error"):
            raise js_error(data["error"], what)
        return data

    async def _list_all(self, api: str, key: str, name_of: Callable[[dict[str, Any]], str], *, what: str) -> list[Any]:
        """Every item of a paged JetStream list (the server answers 256 per page).

        The first page gives the total; the rest are asked for LIST_CONCURRENCY at a time,
        and at most LIST_MAX_PAGES in all, whatever total the server claims. Items added or
        removed between pages may shift the offsets, so duplicates are dropped.
        """
        first = await self.api(api, {"offset": 0}, what=what)
        items = [i for i in first.get(key) or [] if isinstance(i, dict)]
        total = as_int(first.get("total"))
        step = max(1, as_int(first.get("limit")) or len(items) or 256)
        end = min(total, len(items) + step * (LIST_MAX_PAGES - 1))
        if total > end:
            logger.warning("nats %s: %s lists %d items; reading the first %d", self.config.slug, api, total, end)
        offsets = range(len(items), end, step) if items else range(0)
        gate = asyncio.Semaphore(LIST_CONCURRENCY)

        async def one_page(offset: int) -> dict[str, Any]:
            async with gate:
                return await self.api(api, {"offset": offset}, what=what)

        pages = await asyncio.gather(*(one_page(o) for o in offsets))
        for page in pages:
            items.extend(i for i in page.get(key) or [] if isinstance(i, dict))
        seen: set[str] = set()
        unique: list[dict[str, Any]] = []
        for item in items:
            name = name_of(item)
            if name not in seen:
                seen.add(name)
                unique.append(item)
        return unique
