"""Publishing to NATS: core publish, request-reply, JetStream with its ack and de-duplication."""

from __future__ import annotations

import base64

from django.test import override_settings

from streams.models import AuditEvent
from tests.nats import helpers as h
from tests.publish.helpers import Collector, Responder

URL = "/api/v1/clusters/nats/publish"


def post(client, body):
    return client.post(URL, body, content_type="application/json")


def test_core_publish_reaches_a_subscriber_with_headers_and_exact_bytes(operator_client, url, unique):
    raw = b"\x00\x01binary\xff"
    with Collector(url, f"{unique}.>") as seen:
        response = post(
            operator_client,
            {
                "subject": f"{unique}.a",
                "value": base64.b64encode(raw).decode(),
                "encoding": "base64",
                "headers": [["x-trace", "t1"]],
            },
        )
        assert response.status_code == 201, response.content
        assert response.json()["subject"] == f"{unique}.a"
        [msg] = seen.wait_for(1)
    assert msg.data == raw and msg.headers == {"x-trace": "t1"}
    assert AuditEvent.objects.get(action="nats.subject.publish").params["mode"] == "publish"


def test_request_reply_answers_with_the_reply_and_its_time(operator_client, url, unique):
    with Responder(url, f"{unique}.echo"):
        response = post(operator_client, {"subject": f"{unique}.echo", "value": "ping", "mode": "request"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reply"]["value"] == {"text": "gnip", "base64": base64.b64encode(b"gnip").decode()}
    assert body["reply"]["headers"] == [["x-answered-by", {"text": "responder", "base64": "cmVzcG9uZGVy"}]]
    assert body["reply"]["truncated"] is False and body["elapsed_ms"] >= 0


def test_no_responders_is_404_on_subject_and_silence_is_504(operator_client, url, unique):
    nobody = post(operator_client, {"subject": f"{unique}.nobody", "value": "x", "mode": "request"})
    assert nobody.status_code == 404 and nobody.json()["field"] == "subject"
    with Responder(url, f"{unique}.silent", silent=True):
        silent = post(operator_client, {"subject": f"{unique}.silent", "value": "x", "mode": "request", "timeout": 0.3})
    assert silent.status_code == 504 and "No reply" in silent.json()["error"]


def test_jetstream_publish_acks_and_deduplicates(operator_client, url, unique):
    stream = h.create_own_stream(url, unique)
    body = {"subject": f"{unique}.orders", "value": "{}", "encoding": "json", "mode": "jetstream", "msg_id": "o-1"}
    first = post(operator_client, body)
    assert first.status_code == 201, first.content
    assert first.json() | {"mode": "jetstream"} == {
        **first.json(),
        "stream": stream,
        "seq": 1,
        "duplicate": False,
    }
    again = post(operator_client, body)
    assert again.status_code == 201 and again.json()["duplicate"] is True and again.json()["seq"] == 1
    assert h.stream_info(url, stream)["state"]["messages"] == 1


def test_jetstream_publish_without_a_stream_is_404(operator_client, unique):
    response = post(operator_client, {"subject": f"{unique}.nowhere", "value": "x", "mode": "jetstream"})
    assert response.status_code == 404 and response.json()["field"] == "subject"


def test_bad_input(operator_client, unique):
    cases = [
        ({"value": "x"}, "subject"),
        ({"subject": "a.*", "value": "x"}, "subject"),
        ({"subject": "a b", "value": "x"}, "subject"),
        ({"subject": "a", "value": "x", "mode": "broadcast"}, "mode"),
        ({"subject": "a", "value": "x", "msg_id": "1"}, "msg_id"),
        ({"subject": "a", "value": "x", "mode": "request", "timeout": 0}, "timeout"),
        ({"subject": "a", "value": "x", "headers": [["h", "1"], ["h", "2"]]}, "headers"),
        ({"subject": "a", "value": "x", "mode": "request", "count": 5}, "mode"),
    ]
    for body, field in cases:
        response = post(operator_client, body)
        assert response.status_code == 400 and response.json()["field"] == field, (body, response.content)


def test_larger_than_the_server_takes_is_400(operator_client, unique):
    response = post(operator_client, {"subject": f"{unique}.big", "value": "x" * (1024 * 1024 + 1)})
    assert response.status_code == 400 and response.json()["field"] == "value"


def test_dead_server_is_503(operator_client, dead_port):
    with override_settings(NATS_URL=f"nats://127.0.0.1:{dead_port}"):
        response = post(operator_client, {"subject": "a", "value": "x"})
    assert response.status_code == 503


def test_page_request_shows_the_reply_escaped(operator_client, url, unique):
    with Responder(url, f"{unique}.echo"):
        answer = operator_client.post(
            "/clusters/nats/publish",
            {"subject": f"{unique}.echo", "value": ">tpircs<", "mode": "request"},
            headers={"HX-Request": "true"},
        )
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "&lt;script&gt;" in html and "<script>" not in html and "Reply to" in html


def test_publish_again_from_a_stream_message(operator_client, url, unique):
    stream = h.create_own_stream(url, unique)
    h.publish(url, [(f"{unique}.x", b"first", {"k": "v"})])
    again = post(operator_client, {"from_stream": stream, "from_seq": 1, "mode": "jetstream"})
    assert again.status_code == 201 and again.json()["seq"] == 2
    form = operator_client.get("/clusters/nats/publish", {"from_stream": stream, "from_seq": 1})
    assert f'value="{unique}.x"' in form.content.decode() and "k: v" in form.content.decode()


def test_a_header_nats_refuses_is_a_400_naming_it_and_nothing_is_sent(operator_client, url, unique):
    stream = h.create_own_stream(url, unique)
    refused = [
        ([["has space", "v"]], "'has space'"),
        ([["x:y", "v"]], "'x:y'"),
        ([["é", "v"]], "'é'"),
        ([["x-ok", "line\r\nInjected: yes"]], "x-ok"),
        ([["x-ok", "tail\n"]], "x-ok"),
    ]
    with Collector(url, f"{unique}.>") as seen:
        for mode in ("publish", "request", "jetstream"):
            for headers, words in refused:
                response = post(
                    operator_client, {"subject": f"{unique}.h", "value": "v", "mode": mode, "headers": headers}
                )
                assert response.status_code == 400, (mode, headers, response.content)
                assert response.json()["field"] == "headers" and words in response.json()["error"]
            bulk = post(
                operator_client,
                {"subject": f"{unique}.h", "value": "v", "mode": mode, "headers": refused[0][0], "count": 5},
            )
            if mode != "request":
                assert bulk.status_code == 400 and bulk.json()["field"] == "headers", bulk.content
        bad_id = post(operator_client, {"subject": f"{unique}.h", "value": "v", "mode": "jetstream", "msg_id": "a\nb"})
        assert bad_id.status_code == 400 and bad_id.json()["field"] == "msg_id"
        fine = post(operator_client, {"subject": f"{unique}.h", "value": "v", "headers": [["X-Trace_1.a~", "t 1"]]})
        assert fine.status_code == 201, fine.content
        assert [m.headers for m in seen.wait_for(1)] == [{"X-Trace_1.a~": "t 1"}]
    assert h.stream_info(url, stream)["state"]["messages"] == 1
    saved = operator_client.post(
        "/api/v1/templates",
        {"name": unique, "cluster": "nats", "target": f"{unique}.h", "value": "v", "headers": refused[0][0]},
        content_type="application/json",
    )
    assert saved.status_code == 400 and saved.json()["field"] == "headers"
