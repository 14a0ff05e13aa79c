"""WebSocket endpoints. Subscribe first, then send the snapshot, so no update is missed.

A socket outlives the request that opened it, so every socket asks again who is on the
other end every ``SOCKET_RECHECK_SECONDS`` (the session or the token, read afresh) and
closes when the access is gone: 4401 logged out, token deleted or expired, user
deactivated; 4403 role removed. Each tail subscribe asks the policies for ``messages`` on
its topic, stream or subject, and a re-check ends a subscription no longer granted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string

from console.access import ACCESS_DENIED, Refused, can_stop, evaluator, may_unmask, record_unmasked, scope_refusal
from console.socket_auth import socket_access
from streams import adapters, audit, health
from streams.errors import NotFound
from streams.models import AuditEvent
from streams.policies import KV_BUCKETS, MESSAGES, STREAMS, SUBJECTS, TOPICS, Evaluator
from streams.tail.hub import hub
from streams.tail.session import TOO_MANY_CODE, TailSession
from streams.tail.spec import TailSpec
from streams.tasks import HEALTH_GROUP

logger = logging.getLogger("console.sockets")

# Refusals close the socket before any frame (accepted first, so the client sees the code).
NOT_LOGGED_IN = 4401
NO_ROLE = 4403
UNKNOWN_CLUSTER = 4404
# A tail's source as the resource type masking rules and policies name.
RESOURCE_TYPE = {"topic": "topics", "subject": "subjects", "stream": "streams", "kv": "kv_buckets"}


# The policies' resource type of each tail source.
SOURCE_KINDS = {"topic": TOPICS, "stream": STREAMS, "subject": SUBJECTS, "kv": KV_BUCKETS}


async def access_code(user: Any) -> int | None:
    """The close code for a user who may not watch (None: they may)."""
    if not user.is_authenticated:
        return NOT_LOGGED_IN
    if not (await evaluator(user)).anything:
        return NO_ROLE
    return None


class AccessWatch:
    """Re-checks a socket's user every ``SOCKET_RECHECK_SECONDS``; ``on_lost`` closes the socket."""

    def __init__(
        self,
        scope: dict[str, Any],
        on_lost: Callable[[int, str], Awaitable[None]],
        on_checked: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        self.scope = scope
        self.on_lost = on_lost
        self.on_checked = on_checked
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        interval = float(settings.SOCKET_RECHECK_SECONDS)
        while True:
            await asyncio.sleep(interval)
            try:
                user = (await socket_access(self.scope)).user
                code = await access_code(user)
            except Exception:  # the database is away: keep the socket, ask again later
                logger.warning("socket access check failed", exc_info=True)
                continue
            if code is not None:
                reason = "Logged out, or the token is no longer valid." if code == NOT_LOGGED_IN else "Role removed."
                await self.on_lost(code, reason)
                return
            if self.on_checked is not None:
                await self.on_checked(user)

    async def stop(self) -> None:
        if self.task is not asyncio.current_task():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class HealthSocket(AsyncJsonWebsocketConsumer):
    """Pushes each background health check to the clusters page (htmx ws extension)."""

    watch: AccessWatch | None = None

    policies: Evaluator | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.policies = await evaluator(user) if user is not None else None
        if self.policies is None or not self.policies.anything:
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(HEALTH_GROUP, self.channel_name)
        await self.accept()
        self.watch = AccessWatch(self.scope, self._lost)
        snapshot = await sync_to_async(health.last_background_check)()
        if snapshot is not None:
            await self.send_update(snapshot)

    async def _lost(self, code: int, reason: str) -> None:
        await self.channel_layer.group_discard(HEALTH_GROUP, self.channel_name)
        await self.close(code=code, reason=reason)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Push only: whatever the page sends is not even parsed."""

    async def disconnect(self, code: int) -> None:
        if self.watch is not None:
            await self.watch.stop()
        await self.channel_layer.group_discard(HEALTH_GROUP, self.channel_name)

    async def health_update(self, event: dict[str, Any]) -> None:
        await self.send_update(event["clusters"])

    async def send_update(self, clusters: list[dict[str, Any]]) -> None:
        """The clusters table and the last-check line, swapped into the page by id."""
        mine = self.policies
        if mine is not None:
            clusters = [c for c in clusters if mine.sees_cluster(str(c.get("slug", "")))]
        html = render_to_string("clusters/_pushed.html", {"data": {"clusters": clusters}, "background": clusters})
        await self.send(text_data=html)


class TailSocket(AsyncWebsocketConsumer):
    """Live tail, one socket per tab or script: the contract is in API.md, the work in streams.tail.

    Each user may hold ``TAIL_MAX_SOCKETS_PER_USER`` of them per web process (counted in
    the process's hub); one more is refused with 4429 before any frame."""

    session: TailSession | None = None
    watch: AccessWatch | None = None
    owner: Any = None
    user: Any = None
    slug: str = ""

    async def connect(self) -> None:
        access = await socket_access(self.scope)
        user = access.user
        refusal = NOT_LOGGED_IN if not access.authenticated else None if access.may_read else NO_ROLE
        config, reason = None, ""
        if refusal is None:
            try:
                config = await adapters.aget_config(self.scope["url_route"]["kwargs"]["cluster"])
            except NotFound:
                refusal = UNKNOWN_CLUSTER
        if refusal is None:
            if hub().open_socket(user.pk):
                self.owner = user.pk  # counted from here: disconnect() gives the place back, whatever happens
            else:
                refusal = TOO_MANY_CODE
                reason = (
                    f"You already have {settings.TAIL_MAX_SOCKETS_PER_USER} live tails open in this web process "
                    "(STREAMDESK_TAIL_MAX_SOCKETS_PER_USER); close one."
                )
        await self.accept()
        if refusal is not None or config is None:
            await self.close(code=refusal, reason=reason or None)
            return
        self.user, self.slug = user, config.slug
        self.token, self.policies = access.token, access.policies
        self.session = TailSession(
            config,
            self._send_text,
            self._close_with,
            owner=user.pk,
            operator=await can_stop(user),
            may_unmask=self._may_unmask,
            on_unmasked=self._unmasked,
            authorize=self._authorize,
        )
        self.watch = AccessWatch(self.scope, self._close_with, self._checked)

    token: Any = None
    policies: Evaluator | None = None

    async def _authorize(self, spec: TailSpec, *, recheck: bool = False) -> str | None:
        """Why this socket may not tail ``spec`` (None: it may); a refused subscribe is audited."""
        session, policies = self.session, self.policies
        if session is None or policies is None:
            return "The socket is closing."
        slug = session.config.slug
        refusal = scope_refusal(MESSAGES, token=self.token)
        if refusal is not None:
            return refusal
        decision = policies.decide(MESSAGES, slug, SOURCE_KINDS[spec.source], spec.name)
        if decision.allowed:
            return None
        if not recheck:
            await audit.record(
                self.user,
                ACCESS_DENIED,
                cluster=slug,
                target=spec.name,
                params={"action": MESSAGES, "kind": decision.kind, "name": spec.name, "via": "tail"},
                result=AuditEvent.Result.DENIED,
                message=Refused(decision).message,
            )
        return decision.refusal()

    async def _checked(self, user: Any) -> None:
        self.user = user
        self.policies = await evaluator(user)
        if self.session is not None:
            self.session.set_operator(await can_stop(user))
            await self.session.refresh_unmask()
            await self.session.recheck()

    async def _may_unmask(self, spec: TailSpec) -> bool:
        return await may_unmask(self.user, self.slug, RESOURCE_TYPE[spec.source], spec.name)

    async def _unmasked(self, spec: TailSpec) -> None:
        """The subscription's first message that masking rules cover went out unmasked: audited once."""
        await record_unmasked(self.user, self.slug, RESOURCE_TYPE[spec.source], spec.name, "tail")

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close_with(self, code: int, reason: str) -> None:
        await self._release()
        await self.close(code=code, reason=reason)

    async def _release(self) -> None:
        """Everything the socket holds, once: the session, the access watch, its place in the count."""
        session, self.session = self.session, None
        watch, self.watch = self.watch, None
        owner, self.owner = self.owner, None
        if watch is not None:
            await watch.stop()
        if session is not None:
            await session.shutdown()
        if owner is not None:
            hub().close_socket(owner)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is not None:
            await self.session.receive(text_data)

    async def disconnect(self, code: int) -> None:
        await self._release()
