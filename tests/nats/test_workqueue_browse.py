"""Work-queue and interest streams browse without taking a message: direct get or
message get, never a consumer."""

from __future__ import annotations

import pytest

from tests.nats import helpers as h


@pytest.mark.parametrize("retention", ["workqueue", "interest"])
@pytest.mark.parametrize("allow_direct", [True, False], ids=["direct-get", "message-get"])
def test_browse_leaves_the_stream_untouched(viewer_client, url, unique, retention, allow_direct):
    name = h.create_own_stream(url, unique, retention=retention, allow_direct=allow_direct)
    # An interest stream keeps a message only while a consumer wants it.
    owners = 1 if retention == "interest" else 0
    if owners:
        h.add_consumer(url, name, "worker")
    h.publish(url, [(f"{unique}.job", f"job{i}".encode(), None) for i in range(1, 6)])
    before = h.stream_info(url, name)
    response = viewer_client.get(f"/api/v1/clusters/nats/streams/{name}/messages", {"seq": 1, "limit": 10})
    assert response.status_code == 200, response.content
    assert [m["value"]["text"] for m in response.json()["messages"]] == [f"job{i}" for i in range(1, 6)]
    again = viewer_client.get(f"/api/v1/clusters/nats/streams/{name}/messages", {"seq": 1})
    assert len(again.json()["messages"]) == 5
    after = h.stream_info(url, name)
    assert after["state"]["messages"] == before["state"]["messages"] == 5
    assert (after["state"]["first_seq"], after["state"]["last_seq"]) == (1, 5)
    assert after["state"]["consumer_count"] == before["state"]["consumer_count"] == owners
    if owners:
        assert h.consumer_info(url, name, "worker")["num_pending"] == 5
