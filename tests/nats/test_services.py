"""NATS micro services as listed by the console: two instances of one service, their
endpoints and counts, read back after an independent client called them."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import nats
from nats.aio.client import Client
from nats.micro import ServiceConfig, add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, Service, ServiceError

from tests.nats import helpers as h


class Services:
    """Two instances of one micro service, on their own thread until the block ends."""

    def __init__(self, url: str, name: str, subject: str) -> None:
        self.url, self.name, self.subject = url, name, subject
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.instances: list[Service] = []

    def __enter__(self) -> Services:
        self.thread.start()

        async def echo(req: Request) -> None:
            if req.data == b"fail":
                raise ServiceError("500", "asked to fail")
            else:
                await req.respond(req.data)

        async def start() -> None:
            self.nc = await nats.connect(self.url)
            for _ in range(2):
                config = ServiceConfig(name=self.name, version="1.2.3", description="echoes <b>")
                svc = await add_service(self.nc, config)
                await svc.add_endpoint(EndpointConfig(name="echo", subject=self.subject, handler=echo))
                self.instances.append(svc)

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            for svc in self.instances:
                await svc.stop()
            await self.nc.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_two_instances_with_counts(viewer_client, url, unique):
    name = unique.replace("-", "_")
    subject = f"{unique}.echo"
    with Services(url, name, subject):

        async def call(nc: Client) -> None:
            for body in [b"a", b"b", b"c", b"fail"]:
                await nc.request(subject, body, timeout=5)

        h.run(url, call)
        response = viewer_client.get("/api/v1/clusters/nats/services")
        assert response.status_code == 200, response.content
        mine = [s for s in response.json()["items"] if s["name"] == name]
        assert len(mine) == 1
        service = mine[0]
        assert (service["version"], service["description"]) == ("1.2.3", "echoes <b>")
        assert len(service["instances"]) == 2
        endpoints = [i["endpoints"][0] for i in service["instances"]]
        assert all(e["subject"] == subject and e["queue_group"] == "q" and e["name"] == "echo" for e in endpoints)
        assert sum(e["num_requests"] for e in endpoints) == 4
        assert sum(e["num_errors"] for e in endpoints) == 1
        failed = [e["last_error"] for e in endpoints if e["num_errors"]]
        assert len(failed) == 1 and "asked to fail" in failed[0]
        assert all(i["started"] for i in service["instances"])
        assert all(e["average_processing_time_ms"] >= 0 for e in endpoints)
        page = viewer_client.get("/clusters/nats/services")
        assert page.status_code == 200
        html = page.content.decode()
        assert name in html and "echoes &lt;b&gt;" in html and html.count(f"<code>{subject}</code>") == 2
        assert 'href="/clusters/nats/services"' in viewer_client.get("/clusters/nats/streams").content.decode()
    gone = viewer_client.get("/api/v1/clusters/nats/services").json()["items"]
    assert not [s for s in gone if s["name"] == name]


def test_hostile_replies_are_skipped(viewer_client, url, unique):
    """A responder answering junk, a list, a huge body or wrong types leaves the listing whole."""
    replies = [b"not json", b"[1, 2]", b'{"id": "' + b"x" * 300_000 + b'"}', b'{"id": 5, "name": {"a": 1}}']

    async def answer(nc: Client) -> Any:
        async def reply(msg: Any) -> None:
            for body in replies:
                await nc.publish(msg.reply, body)

        await nc.subscribe("$SRV.INFO", cb=reply)
        await nc.subscribe("$SRV.STATS", cb=reply)
        return nc

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    nc = asyncio.run_coroutine_threadsafe(nats.connect(url), loop).result(10)
    asyncio.run_coroutine_threadsafe(answer(nc), loop).result(10)
    try:
        response = viewer_client.get("/api/v1/clusters/nats/services")
        assert response.status_code == 200, response.content
        assert all(isinstance(s["instances"], list) for s in response.json()["items"])
    finally:
        asyncio.run_coroutine_threadsafe(nc.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
