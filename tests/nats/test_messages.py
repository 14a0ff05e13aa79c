"""The JetStream message browser: by sequence, time and subject, with direct get and
message get, hostile and binary payloads, deleting one message."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from django.test import Client

from streams import payloads
from streams.models import AuditEvent
from streams.payloads import DISPLAY_LIMIT
from tests.nats import helpers as h

# Shared fixtures: pytest finds fixtures among a module's names.


@pytest.fixture(params=[True, False], ids=["direct-get", "message-get"])
def stream(request, url, unique) -> str:
    """Ten messages on <unique>.even / <unique>.odd, sequence 1..10, both read paths."""
    name = h.create_own_stream(url, unique, allow_direct=request.param)
    h.publish(url, [(f"{unique}.{'even' if i % 2 == 0 else 'odd'}", f"m{i}".encode(), None) for i in range(1, 11)])
    return name


def browse(client, stream: str, **params) -> dict:
    response = client.get(f"/api/v1/clusters/nats/streams/{stream}/messages", params)
    assert response.status_code == 200, response.content
    return response.json()


def text(message: dict) -> str:
    return message["value"]["text"]


def test_by_sequence_and_limit(viewer_client, stream, unique):
    body = browse(viewer_client, stream, seq=3, limit=4)
    assert [m["seq"] for m in body["messages"]] == [3, 4, 5, 6]
    assert [text(m) for m in body["messages"]] == ["m3", "m4", "m5", "m6"]
    assert body["messages"][0]["subject"] == f"{unique}.odd"
    assert body["next_seq"] == 7 and (body["first_seq"], body["last_seq"]) == (1, 10)
    tail = browse(viewer_client, stream, seq=9)
    assert [m["seq"] for m in tail["messages"]] == [9, 10] and tail["next_seq"] is None
    default = browse(viewer_client, stream)
    assert len(default["messages"]) == 10 and default["messages"][0]["seq"] == 1
    assert browse(viewer_client, stream, seq=11)["messages"] == []


def test_by_subject_filter(viewer_client, stream, unique):
    body = browse(viewer_client, stream, subject=f"{unique}.even", limit=3)
    assert [m["seq"] for m in body["messages"]] == [2, 4, 6]
    rest = browse(viewer_client, stream, subject=f"{unique}.even", seq=body["next_seq"])
    assert [m["seq"] for m in rest["messages"]] == [8, 10]
    wildcard = browse(viewer_client, stream, subject=f"{unique}.*", seq=9)
    assert [m["seq"] for m in wildcard["messages"]] == [9, 10]
    assert browse(viewer_client, stream, subject=f"{unique}.none")["messages"] == []


def test_by_start_time(viewer_client, url, stream, unique):
    time.sleep(0.05)  # a time strictly between the messages' timestamps: only the clock makes one
    since = datetime.now(UTC)
    time.sleep(0.05)
    h.publish(url, [(f"{unique}.late", b"late-1", None), (f"{unique}.late", b"late-2", None)])
    body = browse(viewer_client, stream, since=since.isoformat().replace("+00:00", "Z"))
    assert [text(m) for m in body["messages"]] == ["late-1", "late-2"]
    assert body["messages"][0]["seq"] == 11
    moment = datetime.fromisoformat(body["messages"][0]["time"])
    assert moment >= since
    epoch_ms = browse(viewer_client, stream, since=str(int(since.timestamp() * 1000)))
    assert [m["seq"] for m in epoch_ms["messages"]] == [11, 12]


def test_bad_parameters_name_the_field(viewer_client, stream):
    api = f"/api/v1/clusters/nats/streams/{stream}/messages"
    for params, field in (
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"seq": "x"}, "seq"),
        ({"seq": 0}, "seq"),
        ({"since": "yesterday"}, "since"),
        ({"seq": 1, "since": "2026-01-01T00:00:00Z"}, "since"),
        ({"subject": "a b"}, "subject"),
        ({"subject": "a.>.b"}, "subject"),
    ):
        response = viewer_client.get(api, params)
        assert response.status_code == 400, params
        assert response.json()["field"] == field, params
    assert viewer_client.get("/api/v1/clusters/nats/streams/NO_SUCH_STREAM/messages").status_code == 404


def test_browse_leaves_no_consumer_behind(viewer_client, url, stream):
    browse(viewer_client, stream, limit=10)
    assert h.stream_info(url, stream)["state"]["consumer_count"] == 0


def test_headers_hostile_and_binary_payloads(viewer_client, url, unique):
    name = h.create_own_stream(url, unique, allow_direct=True)
    binary = bytes(range(256))
    script = b"<script>alert('x')</script>"
    h.publish(
        url,
        [
            (f"{unique}.html", script, {"X-Evil": "<img src=x onerror=alert(1)>", "Trace": "abc"}),
            (f"{unique}.bin", binary, None),
            (f"{unique}.json", b'{"order": 7, "items": ["<b>"]}', None),
            (f"{unique}.<b>", b"subject with markup", None),
        ],
    )
    body = browse(viewer_client, name)
    html_msg, bin_msg, json_msg, markup = body["messages"]
    assert json.loads(text(json_msg)) == {"order": 7, "items": ["<b>"]}
    assert text(html_msg) == script.decode()
    assert [
        "X-Evil",
        {"text": "<img src=x onerror=alert(1)>", "base64": base64.b64encode(b"<img src=x onerror=alert(1)>").decode()},
    ] in html_msg["headers"]
    assert bin_msg["value"]["text"] is None
    assert base64.b64decode(bin_msg["value"]["base64"]) == binary
    assert markup["subject"] == f"{unique}.<b>"

    page = viewer_client.get(f"/clusters/nats/streams/{name}/messages").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert f"{unique}.<b>" not in page and f"{unique}.&lt;b&gt;" in page
    assert "00 01 02 03" in page  # the hex view of the binary message
    assert "&quot;order&quot;: 7" in page  # pretty-printed JSON


def test_large_value_is_truncated_with_show_all(viewer_client, url, unique):
    name = h.create_own_stream(url, unique)
    big = b"x" * (200 * 1024)
    h.publish(url, [(f"{unique}.big", big, None)])
    body = browse(viewer_client, name)
    message = body["messages"][0]
    assert message["truncated"] is True and message["size"] == len(big)
    assert len(base64.b64decode(message["value"]["base64"])) < len(big)
    page = viewer_client.get(f"/clusters/nats/streams/{name}/messages").content.decode()
    assert "Show all" in page and f"/clusters/nats/streams/{name}/messages/1?full=1" in page
    # One message is cut like the list unless all of it is asked for.
    api = f"/api/v1/clusters/nats/streams/{name}/messages/1"
    cut = viewer_client.get(api).json()
    assert cut["full"] is False and cut["message"]["truncated"] is True and cut["message"]["size"] == len(big)
    assert len(base64.b64decode(cut["message"]["value"]["base64"])) == DISPLAY_LIMIT
    whole = viewer_client.get(api, {"full": "1"}).json()["message"]
    assert whole["truncated"] is False and base64.b64decode(whole["value"]["base64"]) == big
    one_page = viewer_client.get(f"/clusters/nats/streams/{name}/messages/1")
    assert one_page.status_code == 200 and "Show all" in one_page.content.decode()
    assert 'href="?full=1"' in one_page.content.decode()
    full_page = viewer_client.get(f"/clusters/nats/streams/{name}/messages/1", {"full": "1"}).content.decode()
    assert "Show all" not in full_page and "Showing" not in full_page
    assert viewer_client.get(f"/api/v1/clusters/nats/streams/{name}/messages/99").status_code == 404
    bad = viewer_client.get(api, {"full": "please"})
    assert bad.status_code == 400 and bad.json()["field"] == "full"


def test_show_all_stops_at_the_hard_limit(viewer_client, url, unique, monkeypatch):
    monkeypatch.setattr(payloads, "FULL_DISPLAY_LIMIT", 100 * 1024)
    name = h.create_own_stream(url, unique)
    big = b"y" * (200 * 1024)
    h.publish(url, [(f"{unique}.big", big, None)])
    body = viewer_client.get(f"/api/v1/clusters/nats/streams/{name}/messages/1", {"full": "1"}).json()
    assert body["full"] is True and body["limit"] == 100 * 1024
    message = body["message"]
    assert message["truncated"] is True and message["size"] == len(big)
    assert len(base64.b64decode(message["value"]["base64"])) == 100 * 1024
    page = viewer_client.get(f"/clusters/nats/streams/{name}/messages/1", {"full": "1"}).content.decode()
    assert "the console shows at most 100.0\xa0KB of one value" in page and "Show all" not in page


def test_delete_one_message(operator_client, viewer, url, stream):
    api = f"/api/v1/clusters/nats/streams/{stream}/messages/4"
    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert viewer_client.delete(api).status_code == 403
    response = operator_client.delete(api)
    assert response.status_code == 200 and response.json()["deleted"] == 4
    assert [m["seq"] for m in browse(operator_client, stream, seq=3, limit=2)["messages"]] == [3, 5]
    assert operator_client.delete(api).status_code == 404
    bad = operator_client.delete(api, {"erase": "perhaps"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["field"] == "erase"
    # the page form needs the sequence typed
    form = f"/clusters/nats/streams/{stream}/messages/5/delete"
    operator_client.post(form, {"confirm": "4"})
    assert h.stream_info(url, stream)["state"]["messages"] == 9
    done = operator_client.post(form, {"confirm": "5"})
    assert done.status_code == 302 and done["Location"].endswith("/messages?seq=5")
    assert h.stream_info(url, stream)["state"]["messages"] == 8
    events = list(AuditEvent.objects.filter(action="nats.message.delete").values_list("target", "result"))
    assert events.count((f"{stream}#4", "ok")) == 1 and (f"{stream}#4", "error") in events
    assert (f"{stream}#5", "ok") in events


def test_messages_page_and_partial(viewer_client, stream, unique):
    page = viewer_client.get(f"/clusters/nats/streams/{stream}/messages", {"seq": 2, "limit": 2})
    html = page.content.decode()
    assert page.status_code == 200 and 'data-seq="2"' in html and 'data-seq="3"' in html and 'data-seq="4"' not in html
    assert "seq=4" in html  # the "later" link
    partial = viewer_client.get(f"/clusters/nats/streams/{stream}/messages", {"seq": 2}, headers={"HX-Request": "true"})
    assert b"<html" not in partial.content and b'data-seq="2"' in partial.content
    bad = viewer_client.get(f"/clusters/nats/streams/{stream}/messages", {"limit": 9999})
    assert bad.status_code == 400 and b"limit" in bad.content
