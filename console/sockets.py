"""WebSocket endpoints. Subscribe first, then send the snapshot, so no update is missed."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.template.loader import render_to_string

from console.access import can_read
from console.socket_auth import socket_user
from streams import health, registry
from streams.errors import NotFound
from streams.tail.session import TailSession
from streams.tasks import HEALTH_GROUP


class HealthConsumer(AsyncJsonWebsocketConsumer):
    """Pushes each background health check to the clusters page (htmx ws extension)."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not await can_read(user):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(HEALTH_GROUP, self.channel_name)
        await self.accept()
        snapshot = await sync_to_async(health.last_background_check)()
        if snapshot is not None:
            await self.send_update(snapshot)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(HEALTH_GROUP, self.channel_name)

    async def health_update(self, event: dict[str, Any]) -> None:
        await self.send_update(event["clusters"])

    async def send_update(self, clusters: list[dict[str, Any]]) -> None:
        """The clusters table and the last-check line, swapped into the page by id."""
        html = render_to_string("clusters/_pushed.html", {"data": {"clusters": clusters}, "background": clusters})
        await self.send(text_data=html)


# Refusals close the socket before any frame (accepted first, so the client sees the code).
NOT_LOGGED_IN = 4401
NO_ROLE = 4403
UNKNOWN_CLUSTER = 4404


class TailSocket(AsyncWebsocketConsumer):
    """Live tail, one socket per tab or script: the contract is in API.md, the work in streams.tail."""

    session: TailSession | None = None

    async def connect(self) -> None:
        user = await socket_user(self.scope)
        refusal, config = None, None
        if not user.is_authenticated:
            refusal = NOT_LOGGED_IN
        elif not await can_read(user):
            refusal = NO_ROLE
        else:
            try:
                config = await registry.aget_config(self.scope["url_route"]["kwargs"]["cluster"])
            except NotFound:
                refusal = UNKNOWN_CLUSTER
        await self.accept()
        if refusal is not None or config is None:
            await self.close(code=refusal)
            return
        self.session = TailSession(config, self._send_text, self._close_with)

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _close_with(self, code: int, reason: str) -> None:
        await self.close(code=code, reason=reason)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is None:
            return
        if text_data is None:
            await self.session.error("Frames must be JSON text.")
            return
        await self.session.receive(text_data)

    async def disconnect(self, code: int) -> None:
        if self.session is not None:
            await self.session.shutdown()
