"""Listings show only what a policy lets the user view; a token keeps its read-only scope under policies."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from streams.models import ApiToken, AuditEvent, Policy
from streams.workers.models import ManagedConsumer
from tests.access.conftest import SCOPE_GROUP
from tests.kafka.helpers import commit, create_topic, produce
from tests.nats import helpers as nh


def _names(response: Any, key: str) -> set[str]:
    assert response.status_code == 200, response.content
    return {item[key] for item in response.json()["items"]}


def test_nats_listings_and_workers_are_filtered(scoped_client: Client, operator: User, nats_urls, unique):
    operator_client = Client()
    operator_client.force_login(operator)
    url = nats_urls[0]
    mine, theirs = nh.stream_name(f"ord-{unique}"), nh.stream_name(f"pay-{unique}")
    nh.create_stream(url, mine, [f"ord-{unique}.>"])
    nh.create_stream(url, theirs, [f"pay-{unique}.>"])
    for bucket in (f"ord-{unique}", f"pay-{unique}"):
        body = {"bucket": bucket, "storage": "memory"}
        assert (
            operator_client.post("/api/v1/clusters/nats/kv", body, content_type="application/json").status_code == 201
        )
    Policy.objects.create(
        name="nats",
        groups=SCOPE_GROUP,
        clusters="nats",
        streams="ORD_*",
        kv_buckets="ord-*",
        workers="ord-*",
        actions=["view"],
    )
    assert _names(scoped_client.get("/api/v1/clusters/nats/streams"), "name") & {mine, theirs} == {mine}
    assert _names(scoped_client.get("/api/v1/clusters/nats/kv"), "bucket") & {f"ord-{unique}", f"pay-{unique}"} == {
        f"ord-{unique}"
    }
    assert scoped_client.get(f"/api/v1/clusters/nats/streams/{theirs}").status_code == 403
    assert scoped_client.get(f"/api/v1/clusters/nats/streams/{mine}").status_code == 200
    # Object stores are another type: not listed, so not covered.
    assert scoped_client.get("/api/v1/clusters/nats/objects").status_code == 403
    for name in ("ord-w", "pay-w"):
        ManagedConsumer.objects.create(
            name=name, cluster="nats", source_kind="stream", source=mine, group=name, handler="log"
        )
    assert _names(scoped_client.get("/api/v1/workers"), "name") == {"ord-w"}
    assert scoped_client.get("/api/v1/workers/pay-w").status_code == 403
    # Viewing is not managing.
    refused = scoped_client.post("/api/v1/workers/ord-w/pause")
    assert refused.status_code == 403 and "'workers' action on worker 'ord-w'" in refused.json()["error"]
    nh.delete_streams(url, [mine, theirs])


def test_groups_listing_and_the_topic_readers(scoped_client: Client, kafka_bootstrap: str, unique: str):
    topic = create_topic(kafka_bootstrap, f"orders-{unique}")
    produce(kafka_bootstrap, topic, [b"x"])
    commit(kafka_bootstrap, f"orders-{unique}-readers", {(topic, 0): 1})
    commit(kafka_bootstrap, f"payments-{unique}-readers", {(topic, 0): 1})
    # No policy lists consumer groups: the list is refused, the topic page names none.
    assert scoped_client.get("/api/v1/clusters/kafka/groups").status_code == 403
    assert scoped_client.get(f"/api/v1/clusters/kafka/topics/{topic}").json()["groups"] == []
    Policy.objects.create(
        name="groups", groups=SCOPE_GROUP, clusters="kafka", consumer_groups="orders-*", actions=["view"]
    )
    listed = _names(scoped_client.get("/api/v1/clusters/kafka/groups", {"q": unique}), "group")
    assert listed == {f"orders-{unique}-readers"}
    readers = scoped_client.get(f"/api/v1/clusters/kafka/topics/{topic}").json()["groups"]
    assert [r["group"] for r in readers] == [f"orders-{unique}-readers"]


@pytest.mark.parametrize("read_only", [True, False])
def test_a_token_acts_with_its_users_policies_within_its_scope(
    client: Client, scoped: User, kafka_bootstrap: str, unique: str, read_only: bool
):
    topic = create_topic(kafka_bootstrap, f"orders-{unique}")
    _, raw = ApiToken.issue(scoped, "ci", read_only=read_only)
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get(f"/api/v1/clusters/kafka/topics/{topic}/messages", headers=headers).status_code == 200
    assert client.get("/api/v1/clusters/kafka/topics/payments/messages", headers=headers).status_code == 403
    published = client.post(
        f"/api/v1/clusters/kafka/topics/{topic}/publish",
        {"value": "v"},
        content_type="application/json",
        headers=headers,
    )
    if read_only:
        assert published.status_code == 403 and "read-only" in published.json()["error"]
        assert AuditEvent.objects.filter(action="kafka.topic.publish", result="denied").exists()
    else:
        assert published.status_code == 201, published.content
    me = client.get("/api/v1/me", headers=headers).json()
    assert me["read_only"] is read_only and me["token"] == {"name": "ci", "read_only": read_only}
    granted = me["clusters"][0]["actions"]["topics"]
    assert ("publish" in granted) is not read_only and "messages" in granted


def test_a_user_without_any_policy_sees_what_they_lack(stranger_client: Client):
    assert stranger_client.get("/api/v1/clusters").status_code == 403
    me = stranger_client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["clusters"] == [] and me.json()["roles"] == []
    assert "No policy grants you anything" in stranger_client.get("/me").content.decode()


def test_a_viewer_keeps_the_built_in_role(viewer_client: Client):
    me = viewer_client.get("/api/v1/me").json()
    assert me["roles"] == ["viewers"]
    assert {c["cluster"] for c in me["clusters"]} == {"kafka", "nats"}
    assert me["clusters"][0]["actions"]["topics"] == ["view", "messages"]


def test_stored_and_file_policies_both_count(scoped_client: Client, scoped: User, nats_urls: Any):
    stream_list = "/api/v1/clusters/nats/streams"
    assert scoped_client.get(stream_list).status_code == 403
    Policy.objects.create(name="nats too", groups=SCOPE_GROUP, clusters="nats", streams="*", actions=["view"])
    assert scoped_client.get(stream_list).status_code == 200
    # The file's policy still applies beside it.
    assert scoped_client.get("/api/v1/clusters/kafka/topics", {"q": "orders-"}).status_code == 200
    # A disabled row grants nothing; a group the user is not in neither.
    Policy.objects.update(enabled=False)
    assert scoped_client.get(stream_list).status_code == 403
    Policy.objects.update(enabled=True, groups="someone-else")
    assert scoped_client.get(stream_list).status_code == 403
    scoped.groups.add(Group.objects.create(name="someone-else"))
    assert scoped_client.get(stream_list).status_code == 200
