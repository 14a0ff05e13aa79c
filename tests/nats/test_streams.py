"""JetStream streams: list (past the server's 256 per page), detail, purge, delete, roles."""

from __future__ import annotations

import pytest
from django.test import Client

from streams.models import AuditEvent
from streams.nats import adapter as nats_broker
from tests.nats import helpers as h

# Shared fixtures: pytest finds fixtures among a module's names.


@pytest.fixture
def stream(url, unique) -> str:
    """A stream on ``<unique>.>`` holding 3 messages on .a, 2 on .b, 1 on .c."""
    name = h.create_own_stream(url, unique)
    h.publish(url, [(f"{unique}.{s}", f"m{i}".encode(), None) for i, s in enumerate("aaabbc")])
    return name


def test_list_shows_numbers_for_a_known_stream(viewer_client, stream, unique):
    response = viewer_client.get("/api/v1/clusters/nats/streams", {"q": stream})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    item = body["items"][0]
    assert item["name"] == stream
    assert item["subjects"] == [f"{unique}.>"]
    assert (item["messages"], item["consumers"], item["first_seq"], item["last_seq"]) == (6, 0, 1, 6)
    assert item["bytes"] > 0


def test_list_pages_past_the_servers_256_per_answer(viewer_client, url, unique):
    names = [h.stream_name(f"{unique}_{i:03d}") for i in range(300)]
    h.create_streams(url, names, unique)
    try:
        prefix = names[0][:-4]
        body = viewer_client.get("/api/v1/clusters/nats/streams", {"q": prefix, "page_size": 1000}).json()
        assert body["total"] == 300
        assert [i["name"] for i in body["items"]] == names
        second = viewer_client.get("/api/v1/clusters/nats/streams", {"q": prefix, "page": 2}).json()
        assert second["page"] == 2 and second["page_size"] == 50
        assert [i["name"] for i in second["items"]] == names[50:100]
        page = viewer_client.get("/clusters/nats/streams", {"q": prefix, "page": 2})
        assert page.status_code == 200 and "300 in all" in page.content.decode()
    finally:
        h.delete_streams(url, names)


def test_list_searches_subjects_and_sorts(viewer_client, url, unique, stream):
    other = stream + "_BIG"
    h.create_stream(url, other, [f"{unique}-big.>"])
    h.publish(url, [(f"{unique}-big.x", b"x", None)] * 9)
    by_subject = viewer_client.get("/api/v1/clusters/nats/streams", {"q": f"{unique}-big"}).json()
    assert [i["name"] for i in by_subject["items"]] == [other]
    by_size = viewer_client.get("/api/v1/clusters/nats/streams", {"q": unique, "sort": "messages"}).json()
    assert [i["name"] for i in by_size["items"]] == [other, stream]
    bad = viewer_client.get("/api/v1/clusters/nats/streams", {"sort": "colour"})
    assert bad.status_code == 400 and bad.json()["field"] == "sort"


def test_streams_page_and_htmx_partial(viewer_client, stream):
    page = viewer_client.get("/clusters/nats/streams", {"q": stream})
    html = page.content.decode()
    assert page.status_code == 200
    assert f'data-stream="{stream}"' in html and 'aria-current="page">Streams' in html
    assert f'href="/clusters/nats/streams/{stream}"' in html
    partial = viewer_client.get("/clusters/nats/streams", {"q": stream}, headers={"HX-Request": "true"})
    assert b"<html" not in partial.content and f'data-stream="{stream}"'.encode() in partial.content
    empty = viewer_client.get("/clusters/nats/streams", {"q": "no-such-stream-anywhere"})
    assert b"No stream matches" in empty.content


def test_detail_has_config_state_and_per_subject_counts(viewer_client, stream, unique):
    body = viewer_client.get(f"/api/v1/clusters/nats/streams/{stream}").json()
    assert body["name"] == stream
    assert body["config"]["subjects"] == [f"{unique}.>"]
    assert body["state"]["messages"] == 6
    assert body["subjects"] == {f"{unique}.a": 3, f"{unique}.b": 2, f"{unique}.c": 1}
    assert body["subjects_total"] == 3 and body["subjects_truncated"] is False
    page = viewer_client.get(f"/clusters/nats/streams/{stream}").content.decode()
    assert f"{unique}.a" in page and "Messages per subject" in page
    assert "Operator actions" not in page  # a viewer sees no write forms


def test_detail_keeps_only_the_busiest_subjects(viewer_client, stream, unique, monkeypatch):
    monkeypatch.setattr(nats_broker, "SUBJECTS_PER_STREAM", 2)
    body = viewer_client.get(f"/api/v1/clusters/nats/streams/{stream}").json()
    assert body["subjects"] == {f"{unique}.a": 3, f"{unique}.b": 2}
    assert body["subjects_total"] == 3 and body["subjects_truncated"] is True
    page = viewer_client.get(f"/clusters/nats/streams/{stream}").content.decode()
    assert "Showing the 2 busiest of 3 subjects" in page


def test_unknown_stream_is_404_and_bad_names_too(viewer_client):
    for name in ("NO_SUCH_STREAM_X", "a.b", "a*"):
        response = viewer_client.get(f"/api/v1/clusters/nats/streams/{name}")
        assert response.status_code == 404, name
        assert response.json()["error"]
    page = viewer_client.get("/clusters/nats/streams/NO_SUCH_STREAM_X")
    assert page.status_code == 404 and b"Not found" in page.content
    assert viewer_client.get("/api/v1/clusters/kafka/streams").status_code == 404  # wrong kind of cluster


def test_purge_by_subject_keeping_newest_is_audited(operator_client, url, stream, unique):
    response = operator_client.post(
        f"/api/v1/clusters/nats/streams/{stream}/purge",
        {"subject": f"{unique}.a", "keep": 1},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["purged"] == 2
    assert h.stream_info(url, stream)["state"]["messages"] == 4
    event = AuditEvent.objects.get(action="nats.stream.purge")
    assert (event.username, event.cluster, event.target, event.result) == ("olivia", "nats", stream, "ok")
    assert event.params == {"subject": f"{unique}.a", "keep": 1}


def test_purge_validates_input(operator_client, stream):
    api = f"/api/v1/clusters/nats/streams/{stream}/purge"
    bad_keep = operator_client.post(api, {"keep": -1}, content_type="application/json")
    assert bad_keep.status_code == 400 and bad_keep.json()["field"] == "keep"
    bad_subject = operator_client.post(api, {"subject": "a..b"}, content_type="application/json")
    assert bad_subject.status_code == 400 and bad_subject.json()["field"] == "subject"


def test_page_purge_needs_the_typed_name(operator_client, url, stream):
    form = f"/clusters/nats/streams/{stream}/purge"
    refused = operator_client.post(form, {"confirm": "wrong"}, follow=True)
    assert "Type" in refused.content.decode() and h.stream_info(url, stream)["state"]["messages"] == 6
    done = operator_client.post(form, {"confirm": stream}, follow=True)
    assert done.status_code == 200 and "Purged 6 messages" in done.content.decode()
    assert h.stream_info(url, stream)["state"]["messages"] == 0


def test_delete_stream_from_the_page_and_the_api(operator_client, url, stream, unique):
    refused = operator_client.post(f"/clusters/nats/streams/{stream}/delete", {"confirm": ""})
    assert refused.status_code == 302
    assert h.stream_info(url, stream)["config"]["name"] == stream
    done = operator_client.post(f"/clusters/nats/streams/{stream}/delete", {"confirm": stream})
    assert done.status_code == 302 and done["Location"] == "/clusters/nats/streams"
    assert operator_client.get(f"/api/v1/clusters/nats/streams/{stream}").status_code == 404
    other = stream + "_2"
    h.create_stream(url, other, [f"{unique}.two.>"])
    assert operator_client.delete(f"/api/v1/clusters/nats/streams/{other}").json()["deleted"] == other
    again = operator_client.delete(f"/api/v1/clusters/nats/streams/{other}")
    assert again.status_code == 404
    results = list(AuditEvent.objects.filter(action="nats.stream.delete").values_list("target", "result"))
    assert (stream, "ok") in results and (other, "ok") in results and (other, "error") in results


def test_roles(viewer_client, stream):
    api = f"/api/v1/clusters/nats/streams/{stream}"
    assert Client().get(api).status_code == 401
    assert viewer_client.get(api).status_code == 200
    assert viewer_client.delete(api).status_code == 403
    assert viewer_client.post(f"{api}/purge", {}, content_type="application/json").status_code == 403
    assert viewer_client.post(f"/clusters/nats/streams/{stream}/delete", {"confirm": stream}).status_code == 403
    # Nothing was done; each refusal is on record as denied.
    refused = list(AuditEvent.objects.order_by("id").values_list("action", "username", "result"))
    assert refused == [
        ("nats.stream.delete", "victor", "denied"),
        ("nats.stream.purge", "victor", "denied"),
        ("nats.stream.delete", "victor", "denied"),
    ]


def test_stranger_cannot_read(stranger_client, stream):
    assert stranger_client.get(f"/api/v1/clusters/nats/streams/{stream}").status_code == 403
    assert stranger_client.get("/clusters/nats/streams").status_code == 403
