"""WebSocket endpoints. Subscribe first, then send the snapshot, so no update is missed."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.template.loader import render_to_string

from console.access import can_read
from streams import health
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
