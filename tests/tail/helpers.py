"""A live-tail client over Channels' WebsocketCommunicator, and broker helpers for the tail tests."""

from __future__ import annotations

import json
import time
from typing import Any

import nats
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from console.routing import websocket_urlpatterns


class TailClient:
    """Speaks the tail contract: subscribe, read frames, ack every messages frame."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.received: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []
        self.total_dropped = 0
        self.last_seq = 0

    async def send(self, **frame: Any) -> None:
        await self.ws.send_to(text_data=json.dumps(frame))

    async def subscribe(self, source: str, name: str, **extra: Any) -> dict[str, Any]:
        await self.send(action="subscribe", source=source, name=name, **extra)
        return await self.until("subscribed", "error")

    async def frame(self, timeout: float = 10) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await self.ws.receive_from(timeout=timeout))
        self.frames.append(frame)
        if frame["type"] == "messages":
            assert frame["seq"] == self.last_seq + 1, (frame["seq"], self.last_seq)
            self.last_seq = frame["seq"]
            self.received.extend(frame["items"])
            self.total_dropped = frame["total_dropped"]
        return frame

    async def until(self, *types: str, timeout: float = 10, ack: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.frame(max(0.1, deadline - time.monotonic()))
            if frame["type"] == "messages" and ack:
                await self.send(action="ack", seq=frame["seq"], token=frame["token"])
            if frame["type"] in types:
                return frame

    async def collect(self, count: int, timeout: float = 15, ack: bool = True) -> list[dict[str, Any]]:
        """Read until ``count`` messages were received or dropped."""
        deadline = time.monotonic() + timeout
        while len(self.received) + self.total_dropped < count:
            assert time.monotonic() < deadline, f"{len(self.received)} received, {self.total_dropped} dropped"
            await self.until("messages", timeout=deadline - time.monotonic(), ack=ack)
        return self.received

    async def status(self, timeout: float = 10) -> dict[str, Any]:
        return await self.until("status", timeout=timeout)

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Every frame within ``seconds`` (acking messages): for what only time shows (a stall, a
        pause), or where no later frame could prove a frame will not come."""
        found = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            # A receive that times out cancels the application: look before reading.
            if await self.ws.receive_nothing(timeout=0.05):
                continue
            frame = await self.frame()
            if frame["type"] == "messages":
                await self.send(action="ack", seq=frame["seq"], token=frame["token"])
            found.append(frame)
        return found

    async def close(self) -> None:
        await self.ws.disconnect()


async def close_message(ws: WebsocketCommunicator, timeout: float = 10) -> dict[str, Any]:
    """The application's close message, reading (and dropping) what it sends before it.

    Each read waits for the next message, so this awaits the close rather than polling for it.
    """
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while (left := deadline - time.monotonic()) > 0:
        try:
            last = await ws.receive_output(timeout=left)
        except TimeoutError:
            break
        if last["type"] == "websocket.close":
            return last
    raise AssertionError(f"the socket was not closed within {timeout} s; the last message: {last!r}")


async def open_tail(user: Any, cluster: str) -> TailClient:
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/clusters/{cluster}/tail")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    assert connected, code
    return TailClient(communicator)


async def nats_publish(url: str, items: list[tuple[str, bytes]], headers: dict[str, str] | None = None) -> None:
    nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=1, reconnect_time_wait=0)
    try:
        for subject, data in items:
            await nc.publish(subject, data, headers=headers)
        await nc.flush()
    finally:
        await nc.close()


async def js_publish(url: str, items: list[tuple[str, bytes]]) -> list[int]:
    nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=1, reconnect_time_wait=0)
    try:
        js = nc.jetstream()
        return [(await js.publish(subject, data)).seq for subject, data in items]
    finally:
        await nc.close()


def texts(items: list[dict[str, Any]]) -> list[str | None]:
    return [item["value"]["text"] if item["value"] else None for item in items]
