"""A stream export read slowly from a real Daphne: the web process reads the stream only as fast
as the client takes it, so its memory stays bounded while the export is many times larger."""

from __future__ import annotations

import socket
import time

import pytest

from dev.webprocess import WebProcess
from tests.deploy.test_export_backpressure import BOUND, MESSAGES, RATE, READ_SECONDS, SIZE, rss
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
        sock = socket.create_connection(("127.0.0.1", web.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        request = (
            f"GET /api/v1/clusters/nats/streams/{name}/export?from=beginning HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: Bearer {web.token}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(request.encode())
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200"), head[:300]
        time.sleep(1)
        before = rss(web.pid)
        peak = before
        received = len(head)
        started = time.monotonic()
        while time.monotonic() - started < READ_SECONDS:
            received += len(sock.recv(RATE // 10))
            time.sleep(0.1)
            peak = max(peak, rss(web.pid))
        sock.close()
        total = MESSAGES * SIZE
        assert received < total / 10, "the client read too much to prove anything"
        assert total > 3 * BOUND
        assert peak - before < BOUND, f"RSS grew {(peak - before) / 2**20:.1f} MB over {received / 2**20:.1f} MB read"
    finally:
        web.stop()
        h.delete_streams(url, [name])
