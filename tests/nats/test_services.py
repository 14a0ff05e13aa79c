"""NATS micro services as listed by the console: two instances of one service, their
endpoints and counts, read back after an independent client called them."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import nats
import pytest
from django.test import Client as DjangoClient
from nats.aio.client import Client
from nats.micro import ServiceConfig, add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig, Service, ServiceError

from streams.models import AuditEvent
from tests.nats import helpers as h
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS


class Services:
    """Two instances of one micro service, on their own thread until the block ends."""

    def __init__(self, url: str, name: str, subject: str) -> None:
        self.url, self.name, self.subject = url, name, subject
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.instances: list[Service] = []
        # Requests each instance handled, by instance id: what its stats must count.
        self.handled: dict[str, int] = {}

    def __enter__(self) -> Services:
        self.thread.start()

        def echo_for(svc: Service) -> Any:
            async def echo(req: Request) -> None:
                self.handled[svc.id] = self.handled.get(svc.id, 0) + 1
                if req.data == b"fail":
                    raise ServiceError("500", "asked to fail")
                else:
                    await req.respond(req.data)

            return echo

        async def start() -> None:
            self.nc = await nats.connect(self.url)
            for _ in range(2):
                config = ServiceConfig(name=self.name, version="1.2.3", description="echoes <b>")
                svc = await add_service(self.nc, config)
                await svc.add_endpoint(EndpointConfig(name="echo", subject=self.subject, handler=echo_for(svc)))
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


def test_try_it_sends_requests_through_the_request_reply_publisher(operator_client, viewer, url, unique, settings):
    name = unique.replace("-", "_")
    subject = f"{unique}.echo"
    with Services(url, name, subject) as running:
        api = "/api/v1/clusters/nats/services"
        for i in range(20):
            answer = operator_client.post(api, {"subject": subject, "value": f"ping {i}"}, "application/json")
            assert answer.status_code == 200, answer.content
            assert answer.json()["reply"]["value"]["text"] == f"ping {i}"
        binary = operator_client.post(
            api, {"subject": subject, "value": "AP8=", "encoding": "base64"}, "application/json"
        )
        assert binary.json()["reply"]["value"] == {"text": None, "base64": "AP8="}
        # Counted by the instance that answered, each instance its own.
        service = next(s for s in operator_client.get(api).json()["items"] if s["name"] == name)
        counted = {i["id"]: i["endpoints"][0]["num_requests"] for i in service["instances"]}
        assert counted == {svc.id: running.handled.get(svc.id, 0) for svc in running.instances}
        assert sum(counted.values()) == 21 and len(counted) == 2
        page = operator_client.get("/clusters/nats/services").content.decode()
        # One form per endpoint, however many instances serve it.
        assert page.count(f'name="subject" value="{subject}"') == 1
        # The page's form, as htmx posts it: the reply in the payload view, in place.
        htmx = {"HTTP_HX_REQUEST": "true"}
        shown = operator_client.post("/clusters/nats/services", {"subject": subject, "value": "<b>hi</b>"}, **htmx)
        assert shown.status_code == 200 and "&lt;b&gt;hi&lt;/b&gt;" in shown.content.decode()
        assert "<html" not in shown.content.decode()
        failed = operator_client.post("/clusters/nats/services", {"subject": subject, "value": "fail"}, **htmx)
        assert failed.status_code == 200 and "Nats-Service-Error" in failed.content.decode()
        viewer_client = DjangoClient()
        viewer_client.force_login(viewer)
        refused = viewer_client.post(api, {"subject": subject, "value": "x"}, "application/json")
        assert refused.status_code == 403
        assert 'class="card try-it"' not in viewer_client.get("/clusters/nats/services").content.decode()
        settings.READ_ONLY = True
        assert operator_client.post(api, {"subject": subject}, "application/json").status_code == 403
        settings.READ_ONLY = False
    done = AuditEvent.objects.filter(action="nats.subject.publish", target=subject)
    assert done.filter(result="ok").count() == 23 and done.filter(result="ok", username="olivia").exists()
    refusals = AuditEvent.objects.filter(action="nats.subject.publish", result="denied")
    assert {e.username for e in refusals} == {"victor", "olivia"}


def test_try_it_shows_a_timeout_and_no_responders(operator_client, url, unique):
    subject = f"{unique}.silent"
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    nc = asyncio.run_coroutine_threadsafe(nats.connect(url), loop).result(10)
    # Listens and never answers.
    asyncio.run_coroutine_threadsafe(nc.subscribe(subject), loop).result(10)
    asyncio.run_coroutine_threadsafe(nc.flush(), loop).result(10)
    try:
        api = "/api/v1/clusters/nats/services"
        late = operator_client.post(api, {"subject": subject, "timeout": 0.3}, "application/json")
        assert late.status_code == 504 and "0.3 s" in late.json()["error"]
        shown = operator_client.post(
            "/clusters/nats/services", {"subject": subject, "timeout": "0.3"}, HTTP_HX_REQUEST="true"
        )
        assert 'data-status="504"' in shown.content.decode()
        nobody = operator_client.post(api, {"subject": f"{unique}.nobody"}, "application/json")
        assert nobody.status_code == 404 and nobody.json()["field"] == "subject"
        wild = operator_client.post(api, {"subject": f"{unique}.*"}, "application/json")
        assert wild.status_code == 400 and wild.json()["field"] == "subject"
    finally:
        asyncio.run_coroutine_threadsafe(nc.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)")
def test_try_it_in_a_browser_shows_the_reply_as_text_in_place(live_server, operator, url, unique):
    from playwright.sync_api import expect, sync_playwright

    subject = f"{unique}.echo"
    with Services(url, unique.replace("-", "_"), subject), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/accounts/login/?next=/clusters/nats/services")
            page.get_by_label("Username").fill("olivia")
            page.get_by_label("Password").fill("operator-pass-123")
            page.get_by_role("button", name="Log in").click()
            form = page.locator("form.try-it").filter(has=page.locator(f'input[value="{subject}"]'))
            form.locator("xpath=ancestor::details").locator("summary").click()
            form.get_by_label(f"Request body for {subject}").fill('<img src=x onerror="window.pwned=1">')
            form.get_by_role("button", name="Send request").click()
            reply = form.locator("xpath=following-sibling::div[1]")
            expect(reply.locator("[data-outcome]")).to_contain_text(f"Reply from {subject}", timeout=15_000)
            expect(reply.locator(".reply-value")).to_contain_text('<img src=x onerror="window.pwned=1">')
            assert page.locator(".try-reply img").count() == 0 and page.evaluate("window.pwned") is None
            assert page.url.endswith("/clusters/nats/services")
        finally:
            browser.close()
