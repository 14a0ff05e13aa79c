"""Topics: list, search, paging, detail, create, delete, against the real broker."""

from __future__ import annotations

import pytest

from streams import adapters
from streams.models import AuditEvent
from tests.kafka import helpers as kh
from tests.polling import wait_until


def test_list_counts_messages_from_watermarks(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, f"{unique}.orders", partitions=3)
    kh.produce(kafka_bootstrap, f"{unique}.orders", [b"a", b"b", b"c"], partition=0)
    kh.produce(kafka_bootstrap, f"{unique}.orders", [b"d"], partition=2)
    response = viewer_client.get("/api/v1/clusters/kafka/topics", {"q": unique})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 1
    (item,) = body["items"]
    assert item == {
        "name": f"{unique}.orders",
        "partitions": 3,
        "replication_factor": 1,
        "messages": 4,
        "internal": False,
    }


def test_search_is_case_insensitive_and_pages(viewer_client, kafka_bootstrap, unique):
    for i in range(5):
        kh.create_topic(kafka_bootstrap, f"{unique}-Page-{i}")
    first = viewer_client.get("/api/v1/clusters/kafka/topics", {"q": f"{unique}-page", "page_size": 2}).json()
    assert first["total"] == 5 and first["page"] == 1 and first["page_size"] == 2
    assert [t["name"] for t in first["items"]] == [f"{unique}-Page-0", f"{unique}-Page-1"]
    last = viewer_client.get("/api/v1/clusters/kafka/topics", {"q": f"{unique}-page", "page_size": 2, "page": 3})
    assert [t["name"] for t in last.json()["items"]] == [f"{unique}-Page-4"]
    beyond = viewer_client.get("/api/v1/clusters/kafka/topics", {"q": unique, "page": 9}).json()
    assert beyond["items"] == [] and beyond["total"] == 5


@pytest.mark.parametrize(
    ("params", "field"), [({"page": "0"}, "page"), ({"page_size": "x"}, "page_size"), ({"internal": "no"}, "internal")]
)
def test_bad_list_parameters_are_400_naming_the_field(viewer_client, params, field):
    response = viewer_client.get("/api/v1/clusters/kafka/topics", params)
    assert response.status_code == 400 and response.json()["field"] == field


def test_detail_has_partitions_watermarks_and_configs_where_the_broker_has_them(
    viewer_client, kafka_bootstrap, kafka_broker, unique
):
    kh.create_topic(kafka_bootstrap, unique, partitions=2)
    kh.produce(kafka_bootstrap, unique, [b"1", b"2"], partition=1)
    response = viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == unique
    parts = {p["partition"]: p for p in body["partitions"]}
    assert set(parts) == {0, 1}
    assert parts[1]["low"] == 0 and parts[1]["high"] == 2 and parts[0]["high"] == 0
    assert parts[0]["leader"] >= 0 and parts[0]["replicas"] == parts[0]["isr"] != []
    if kafka_broker == "tansu":  # tansu answers DescribeConfigs with nothing
        assert body["configs"] is None and "not supported by this broker" in body["configs_note"]
    elif kafka_broker == "apache":
        assert "cleanup.policy" in body["configs"]


def test_detail_lists_groups_reading_the_topic_with_their_lag(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique, partitions=2)
    kh.produce(kafka_bootstrap, unique, [b"x"] * 5, partition=0)
    kh.commit(kafka_bootstrap, f"{unique}-g", {(unique, 0): 2})
    body = viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}").json()
    assert len(body["groups"]) == 1, (body["groups"], body["groups_note"])
    (group,) = body["groups"]
    assert group["group"] == f"{unique}-g" and group["lag"] == 3 and group["uncommitted"] == 1


def test_unknown_topic_is_404_and_asking_does_not_create_it(viewer_client, kafka_bootstrap, unique):
    assert viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}").status_code == 404
    page = viewer_client.get(f"/clusters/kafka/topics/{unique}")
    assert page.status_code == 404 and b"Not found" in page.content
    # tansu creates a topic that a metadata request names: the lookups must not name it.
    assert viewer_client.get(f"/api/v1/clusters/kafka/topics/{unique}/messages").status_code == 404
    assert unique not in kh.topics(kafka_bootstrap)


def test_unknown_cluster_or_wrong_kind_is_404(viewer_client):
    assert viewer_client.get("/api/v1/clusters/nope/topics").status_code == 404
    assert viewer_client.get("/api/v1/clusters/nats/topics").status_code == 404


def test_operator_creates_a_topic_and_it_is_audited(operator_client, unique):
    response = operator_client.post(
        "/api/v1/clusters/kafka/topics",
        {"name": f"{unique}.new", "partitions": 3, "replication_factor": 1},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == f"{unique}.new"
    detail = operator_client.get(f"/api/v1/clusters/kafka/topics/{unique}.new").json()
    assert len(detail["partitions"]) == 3
    event = AuditEvent.objects.get(action="kafka.topic.create", target=f"{unique}.new")
    assert event.result == "ok" and event.username == "olivia" and event.params["partitions"] == 3


def test_creating_an_existing_topic_is_409(operator_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    response = operator_client.post("/api/v1/clusters/kafka/topics", {"name": unique}, content_type="application/json")
    assert response.status_code == 409 and response.json()["field"] == "name"
    assert AuditEvent.objects.get(action="kafka.topic.create", target=unique).result == "error"


def test_a_name_that_collides_on_dot_and_underscore_is_409(operator_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, f"{unique}.a")
    response = operator_client.post(
        "/api/v1/clusters/kafka/topics", {"name": f"{unique}_a"}, content_type="application/json"
    )
    assert response.status_code == 409 and "collides" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"name": ".."}, "name"),
        ({"name": "x" * 250}, "name"),
        ({"name": "ok-name", "partitions": 0}, "partitions"),
        ({"name": "ok-name", "partitions": "many"}, "partitions"),
        ({"name": "ok-name", "replication_factor": 0}, "replication_factor"),
        ({"name": "ok-name", "configs": {"Not A Config": "1"}}, "configs"),
        ({}, "name"),
    ],
)
def test_create_validates_like_kafka(operator_client, body, field):
    response = operator_client.post("/api/v1/clusters/kafka/topics", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field


def test_viewer_cannot_create_or_delete_and_anonymous_gets_401(viewer_client, client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    create = viewer_client.post("/api/v1/clusters/kafka/topics", {"name": unique}, content_type="application/json")
    assert create.status_code == 403
    assert viewer_client.delete(f"/api/v1/clusters/kafka/topics/{unique}").status_code == 403
    client.logout()
    assert client.get("/api/v1/clusters/kafka/topics").status_code == 401
    assert client.delete(f"/api/v1/clusters/kafka/topics/{unique}").status_code == 401
    assert unique in kh.topics(kafka_bootstrap)


def test_operator_deletes_a_topic(operator_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    response = operator_client.delete(f"/api/v1/clusters/kafka/topics/{unique}")
    assert response.status_code == 200 and response.json()["deleted"] == unique
    wait_until(lambda: unique not in kh.topics(kafka_bootstrap), message="deletion")
    assert operator_client.get(f"/api/v1/clusters/kafka/topics/{unique}").status_code == 404
    assert AuditEvent.objects.get(action="kafka.topic.delete", target=unique).result == "ok"
    again = operator_client.delete(f"/api/v1/clusters/kafka/topics/{unique}")
    assert again.status_code == 404


def test_adding_partitions_grows_the_topic_or_says_not_supported(
    operator_client, kafka_bootstrap, kafka_broker, unique
):
    kh.create_topic(kafka_bootstrap, unique)
    response = operator_client.post(
        f"/api/v1/clusters/kafka/topics/{unique}/partitions", {"count": 3}, content_type="application/json"
    )
    # tansu lacks CreatePartitions; Apache Kafka grows the topic.
    if kafka_broker == "tansu":
        assert response.status_code == 501 and "not supported by this broker" in response.json()["error"]
    elif kafka_broker == "apache":
        assert response.status_code == 200, response.content
        wait_until(
            lambda: len(kh.admin(kafka_bootstrap).list_topics(unique, timeout=5).topics[unique].partitions) == 3,
            message="three partitions",
        )
    bad = operator_client.post(
        f"/api/v1/clusters/kafka/topics/{unique}/partitions", {"count": 1}, content_type="application/json"
    )
    assert bad.status_code == 400 and bad.json()["field"] == "count"


# -- pages -------------------------------------------------------------------------------


def test_topics_page_and_its_htmx_partial(viewer_client, kafka_bootstrap, unique):
    kh.create_topic(kafka_bootstrap, unique)
    page = viewer_client.get("/clusters/kafka/topics", {"q": unique})
    html = page.content.decode()
    assert page.status_code == 200 and f'data-topic="{unique}"' in html
    assert 'aria-current="page">Topics' in html and "Consumer groups" in html
    assert '<a href="/kafka" aria-current="page">Kafka</a>' in html
    assert "Create a topic" not in html  # viewers get no write forms
    partial = viewer_client.get("/clusters/kafka/topics", {"q": unique}, headers={"HX-Request": "true"})
    assert b"<html" not in partial.content and f'data-topic="{unique}"'.encode() in partial.content
    empty = viewer_client.get("/clusters/kafka/topics", {"q": f"{unique}-nothing"})
    assert b"No topic matches" in empty.content


def test_topic_page_shows_partitions_and_configs_or_why_not(operator_client, kafka_bootstrap, kafka_broker, unique):
    kh.create_topic(kafka_bootstrap, unique, partitions=2)
    page = operator_client.get(f"/clusters/kafka/topics/{unique}")
    html = page.content.decode()
    assert page.status_code == 200 and 'data-partition="1"' in html
    if kafka_broker == "tansu":
        assert "not supported by this broker" in html
    elif kafka_broker == "apache":
        assert "cleanup.policy" in html
    assert f'data-confirm-text="{unique}"' in html  # typed confirmation for deletion


def test_page_forms_create_then_delete_with_typed_confirmation(operator_client, kafka_bootstrap, unique):
    created = operator_client.post(
        "/clusters/kafka/new-topic", {"name": unique, "partitions": "2", "replication_factor": "", "configs": ""}
    )
    assert created.status_code == 302 and created["Location"] == f"/clusters/kafka/topics/{unique}"
    assert unique in kh.topics(kafka_bootstrap)

    refused = operator_client.post(
        f"/clusters/kafka/topics/{unique}/delete", {"confirm": "wrong"}, headers={"Referer": "/back"}
    )
    assert refused.status_code == 302 and refused["Location"] == "/back"
    assert unique in kh.topics(kafka_bootstrap)

    deleted = operator_client.post(f"/clusters/kafka/topics/{unique}/delete", {"confirm": unique}, follow=True)
    assert deleted.status_code == 200 and f"Topic {unique} deleted." in deleted.content.decode()
    wait_until(lambda: unique not in kh.topics(kafka_bootstrap), message="deletion")


def test_viewer_cannot_post_page_forms(viewer_client, unique):
    response = viewer_client.post("/clusters/kafka/new-topic", {"name": unique})
    assert response.status_code == 403


def test_second_page_load_is_served_from_the_cache(viewer_client, kafka_bootstrap, unique, monkeypatch):
    kh.create_topic(kafka_bootstrap, unique)
    viewer_client.get("/api/v1/clusters/kafka/topics", {"q": unique})
    adapter = adapters.get_adapter("kafka")
    calls: list[str] = []
    original = adapter.call

    async def counting(fn, *args, what, timeout=None):
        calls.append(what)
        return await original(fn, *args, what=what, timeout=timeout)

    monkeypatch.setattr(adapter, "call", counting)
    again = viewer_client.get("/api/v1/clusters/kafka/topics", {"q": unique})
    assert again.status_code == 200 and again.json()["total"] == 1
    assert calls == []
