"""A stream export read slowly from a real Daphne: the web process reads the stream only as fast
as the client takes it, so its memory stays bounded while the export is many times larger."""

from __future__ import annotations

import pytest

from dev.webprocess import WebProcess
from tests.deploy.test_export_backpressure import BOUND, MESSAGES, SIZE, read_slowly
from tests.nats import helpers as h

pytestmark = [pytest.mark.slow]


def test_slow_client_keeps_the_web_process_memory_bounded(tmp_path, nats_urls, unique):
    url = nats_urls[0]
    name = h.create_own_stream(url, unique, max_bytes=256 * 1024 * 1024)

    async def fill(nc):
        js = nc.jetstream()
        for start in range(0, MESSAGES, 2000):
            acks = [
                await js.publish_async(f"{unique}.x", (b"%08d" % i) + b"x" * (SIZE - 8))
                for i in range(start, min(MESSAGES, start + 2000))
            ]
            for ack in acks:
                await ack

    h.run(url, fill)
    web = WebProcess(tmp_path / "web", {"NATS_URL": url}).prepare().start()
    try:
        received, before, peak = read_slowly(web, f"/api/v1/clusters/nats/streams/{name}/export?from=beginning")
        total = MESSAGES * SIZE
        assert received < total / 10, "the client read too much to prove anything"
        assert total > 3 * BOUND
        assert peak - before < BOUND, f"RSS grew {(peak - before) / 2**20:.1f} MB over {received / 2**20:.1f} MB read"
    finally:
        web.stop()
        h.delete_streams(url, [name])
