"""ACLs on the real broker: list with filters, create, delete by an explicit filter; tansu has no authorizer."""

from __future__ import annotations

import json

import pytest

from streams.models import AuditEvent

URL = "/api/v1/clusters/kafka/acls"


def _acl(unique: str, **over) -> dict[str, str]:
    return {
        "principal": f"User:{unique}",
        "host": "*",
        "operation": "READ",
        "permission": "ALLOW",
        "resource_type": "TOPIC",
        "name": f"{unique}.orders",
        "pattern": "LITERAL",
        **over,
    }


def _delete(client, body):
    return client.delete(URL, json.dumps(body), content_type="application/json")


@pytest.fixture
def apache_only(kafka_broker):
    if kafka_broker != "apache":
        pytest.skip("ACLs need an authorizer: Apache Kafka's StandardAuthorizer")


def test_without_an_authorizer_acls_are_501_with_a_sentence(operator_client, kafka_broker, unique):
    if kafka_broker == "apache":
        pytest.skip("the Apache Kafka test node runs the StandardAuthorizer")
    response = operator_client.get(URL)
    assert response.status_code == 501
    assert "no authorizer" in response.json()["error"]
    # Never sent: tansu's CreateAcls answer makes librdkafka abort the whole process.
    assert operator_client.post(URL, _acl(unique), content_type="application/json").status_code == 501
    assert _delete(operator_client, {k: "ANY" for k in _acl(unique)}).status_code == 501
    page = operator_client.get("/clusters/kafka/acls")
    assert page.status_code == 200 and response.json()["error"] in page.content.decode()


def test_create_list_filter_and_delete(operator_client, apache_only, unique):
    read = _acl(unique)
    deny = _acl(unique, operation="WRITE", permission="DENY")
    prefixed = _acl(unique, resource_type="GROUP", name=f"{unique}-", pattern="PREFIXED", operation="ALL")
    for acl in (read, deny, prefixed):
        response = operator_client.post(URL, acl, content_type="application/json")
        assert response.status_code == 201, response.content
    mine = operator_client.get(URL, {"principal": f"User:{unique}"}).json()["items"]
    assert sorted(mine, key=lambda a: (a["resource_type"], a["operation"])) == [prefixed, read, deny]
    topics = operator_client.get(URL, {"principal": f"User:{unique}", "resource_type": "TOPIC"}).json()["items"]
    assert {a["operation"] for a in topics} == {"READ", "WRITE"}
    named = operator_client.get(URL, {"name": f"{unique}-"}).json()["items"]
    assert named == [prefixed]
    page = operator_client.get("/clusters/kafka/acls", {"principal": f"User:{unique}"}).content.decode()
    assert f"{unique}.orders" in page and "DENY" in page and "PREFIXED" in page

    # Deleting names every field; ANY is written out and matches both topic ACLs.
    everything = {k: "ANY" for k in read}
    gone = _delete(operator_client, {**everything, "principal": f"User:{unique}", "resource_type": "TOPIC"})
    assert gone.status_code == 200 and gone.json()["deleted"] == 2
    assert operator_client.get(URL, {"principal": f"User:{unique}"}).json()["items"] == [prefixed]
    assert _delete(operator_client, prefixed).json()["deleted"] == 1
    assert operator_client.get(URL, {"principal": f"User:{unique}"}).json()["items"] == []

    events = AuditEvent.objects.filter(action__startswith="kafka.acl.").order_by("id")
    assert [(e.action, e.result) for e in events] == [("kafka.acl.create", AuditEvent.Result.OK)] * 3 + [
        ("kafka.acl.delete", AuditEvent.Result.OK)
    ] * 2


@pytest.mark.parametrize(
    "missing", ["principal", "host", "operation", "permission", "resource_type", "name", "pattern"]
)
def test_a_delete_missing_a_field_is_400_naming_it_and_deletes_nothing(operator_client, missing, unique):
    body = {k: "ANY" for k in _acl(unique)}
    del body[missing]
    response = _delete(operator_client, body)
    assert response.status_code == 400 and response.json()["field"] == missing


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"permission": "MAYBE"}, "permission"),
        ({"operation": "ANY"}, "operation"),
        ({"principal": "alice"}, "principal"),
        ({"pattern": "MATCH"}, "pattern"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_acls_are_400(operator_client, over, field, unique):
    response = operator_client.post(URL, _acl(unique, **over), content_type="application/json")
    assert response.status_code == 400 and response.json()["field"] == field


def test_acl_writes_are_for_operators(viewer_client, unique):
    assert viewer_client.post(URL, _acl(unique), content_type="application/json").status_code == 403
    assert _delete(viewer_client, {k: "ANY" for k in _acl(unique)}).status_code == 403


def test_the_page_creates_and_deletes(operator_client, apache_only, unique):
    acl = _acl(unique, operation="DESCRIBE")
    response = operator_client.post("/clusters/kafka/acls/create", acl)
    assert response.status_code == 302
    assert operator_client.get(URL, {"principal": f"User:{unique}"}).json()["items"] == [acl]
    page = operator_client.get("/clusters/kafka/acls", {"principal": f"User:{unique}"}).content.decode()
    assert 'action="/clusters/kafka/acls/delete"' in page and 'id="acl-create"' in page
    assert operator_client.post("/clusters/kafka/acls/delete", acl).status_code == 302
    assert operator_client.get(URL, {"principal": f"User:{unique}"}).json()["items"] == []
