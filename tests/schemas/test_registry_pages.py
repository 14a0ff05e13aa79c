"""The Schema Registry's subjects through the API and the pages, with the stand-in registry on a real socket."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest
from django.test import Client, override_settings

from streams import adapters
from streams.models import ApiToken, AuditEvent
from streams.schemas import registry as schema_registry

API = "/api/v1/clusters/kafka/schemas"
PAGE = "/clusters/kafka/schemas"
SUBJECT = "shop/orders.v1-value"  # a slash, a dot and a dash: routed by the path converter


def avro(*fields: dict[str, object]) -> str:
    return json.dumps({"type": "record", "name": "Order", "fields": [{"name": "id", "type": "int"}, *fields]})


def register(client, subject: str, schema: str, **extra: object):
    return client.post(
        f"{API}/{quote(subject)}", {"schema": schema, "type": "AVRO", **extra}, content_type="application/json"
    )


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(viewer) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def loaded(operator_client, kafka_bootstrap, standin):
    assert register(operator_client, SUBJECT, avro()).status_code == 201
    second = register(operator_client, SUBJECT, avro({"name": "note", "type": "string", "default": "<b>x</b>"}))
    assert second.status_code == 201, second.content
    assert second.json() == {"id": 2, "version": 2, "message": "Registered version 2 (id 2)."}
    assert register(operator_client, "other-key", '"string"').status_code == 201
    return standin


def test_list_search_paging_and_bad_params(viewer_client, loaded):
    listed = viewer_client.get(API).json()
    assert listed["total"] == 2
    assert listed["items"][1] == {
        "subject": SUBJECT,
        "type": "AVRO",
        "latest_version": 2,
        "id": 2,
        "compatibility": "BACKWARD",
    }
    assert [i["subject"] for i in viewer_client.get(API, {"q": "ORDERS"}).json()["items"]] == [SUBJECT]
    paged = viewer_client.get(API, {"page": 2, "page_size": 1}).json()
    assert paged == {"items": [paged["items"][0]], "total": 2} and paged["items"][0]["subject"] == SUBJECT
    for name, value in (("page", "0"), ("page_size", "x")):
        bad = viewer_client.get(API, {name: value})
        assert bad.status_code == 400 and bad.json()["field"] == name

    page = viewer_client.get(PAGE, {"q": "orders"})
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="/clusters/kafka/schemas/{SUBJECT}"' in html and "other-key" not in html
    assert ">Schemas</a>" in html  # the tab


def test_subject_versions_text_and_diff(viewer_client, loaded):
    detail = viewer_client.get(f"{API}/{SUBJECT}")
    assert detail.status_code == 200, detail.content
    data = detail.json()
    assert data["subject"] == SUBJECT and data["compatibility"] == "BACKWARD"
    assert [(v["version"], v["id"], v["type"], v["references"]) for v in data["versions"]] == [
        (1, 1, "AVRO", []),
        (2, 2, "AVRO", []),
    ]
    assert json.loads(data["versions"][1]["schema"])["fields"][1]["name"] == "note"

    page = viewer_client.get(f"{PAGE}/{SUBJECT}", {"version": 2, "a": 1, "b": 2}).content.decode()
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page  # the schema text is escaped
    assert "--- version 1" in page and "+++ version 2" in page
    assert "+      &quot;name&quot;: &quot;note&quot;," in page
    assert "Register a new version" not in page  # a viewer has no write forms
    assert viewer_client.get(f"{API}/no-such").status_code == 404
    assert viewer_client.get(f"{API}/no-such").json()["error"]


def test_check_register_incompatible_config_and_delete(viewer_client, operator_client, loaded):
    breaking = avro({"name": "note", "type": "string", "default": ""}, {"name": "must", "type": "int"})
    check = viewer_client.post(f"{API}/{SUBJECT}/check", {"schema": breaking}, content_type="application/json")
    assert check.status_code == 200
    verdict = check.json()
    assert verdict["compatible"] is False and "READER_FIELD_MISSING_DEFAULT_VALUE" in verdict["messages"][0]
    fine = viewer_client.post(f"{API}/{SUBJECT}/check", {"schema": avro()}, content_type="application/json")
    assert fine.json() == {"compatible": True, "messages": []}
    bad = viewer_client.post(f"{API}/{SUBJECT}/check", {"schema": "{nope"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["field"] == "schema"

    refused = register(operator_client, SUBJECT, breaking)
    assert refused.status_code == 409 and "'must'" in refused.json()["error"]
    assert register(viewer_client, SUBJECT, avro()).status_code == 403

    bad_level = operator_client.put(
        f"{API}/{SUBJECT}/config", {"compatibility": "SOME"}, content_type="application/json"
    )
    assert bad_level.status_code == 400 and bad_level.json()["field"] == "compatibility"
    assert (
        viewer_client.put(
            f"{API}/{SUBJECT}/config", {"compatibility": "NONE"}, content_type="application/json"
        ).status_code
        == 403
    )
    changed = operator_client.put(f"{API}/{SUBJECT}/config", {"compatibility": "NONE"}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["compatibility"] == "NONE"
    assert viewer_client.get(f"{API}/{SUBJECT}").json()["compatibility"] == "NONE"
    assert register(operator_client, SUBJECT, breaking).json()["version"] == 3

    with override_settings(READ_ONLY=True):
        assert operator_client.delete(f"{API}/{SUBJECT}").status_code == 403
    assert viewer_client.delete(f"{API}/{SUBJECT}").status_code == 403
    hard_first = operator_client.delete(f"{API}/{SUBJECT}", QUERY_STRING="permanent=true")
    assert hard_first.status_code == 404  # Confluent's 40405: soft delete comes first
    soft = operator_client.delete(f"{API}/{SUBJECT}")
    assert soft.status_code == 200 and soft.json()["versions"] == [1, 2, 3] and soft.json()["permanent"] is False
    assert viewer_client.get(f"{API}/{SUBJECT}").status_code == 404
    hard = operator_client.delete(f"{API}/{SUBJECT}", QUERY_STRING="permanent=true")
    assert hard.status_code == 200 and SUBJECT not in loaded.state.subjects

    events = [
        (e.action, e.result, e.target) for e in AuditEvent.objects.filter(action__startswith="schema.").order_by("id")
    ]
    ok, denied, failed = AuditEvent.Result.OK, AuditEvent.Result.DENIED, AuditEvent.Result.ERROR
    assert events[3:] == [
        ("schema.register", failed, SUBJECT),
        ("schema.register", denied, f"{API}/{quote(SUBJECT)}"),
        ("schema.config", denied, f"{API}/{SUBJECT}/config"),
        ("schema.config", ok, SUBJECT),
        ("schema.register", ok, SUBJECT),
        ("schema.delete", denied, f"{API}/{SUBJECT}"),
        ("schema.delete", denied, f"{API}/{SUBJECT}"),
        ("schema.delete", failed, SUBJECT),
        ("schema.delete", ok, SUBJECT),
        ("schema.delete", ok, SUBJECT),
    ]


def test_page_forms_check_register_config_and_delete(operator_client, loaded):
    url = f"{PAGE}/{SUBJECT}"
    page = operator_client.get(url).content.decode()
    assert "Check compatibility first" in page and "type shop/orders.v1-value to confirm" in page
    breaking = avro({"name": "must", "type": "int"})
    checked = operator_client.post(url, {"schema": breaking, "type": "AVRO", "check_only": "1"}, HTTP_HX_REQUEST="true")
    assert checked.status_code == 200 and "The schema is not compatible" in checked.content.decode()
    refused = operator_client.post(url, {"schema": breaking, "type": "AVRO"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 409 and "&#x27;must&#x27;" in refused.content.decode()
    done = operator_client.post(url, {"schema": avro(), "type": "AVRO"}, HTTP_HX_REQUEST="true")
    assert done.status_code == 201 and "Registered version 1 (id 1)" in done.content.decode()

    set_config = operator_client.post(f"{url}/set-config", {"compatibility": "FULL"})
    assert set_config.status_code == 302 and set_config["Location"] == url
    assert "FULL" in operator_client.get(url).content.decode()
    unconfirmed = operator_client.post(f"{url}/delete", {"confirm": "nope"}, HTTP_REFERER=f"http://testserver{url}")
    assert unconfirmed.status_code == 302 and SUBJECT not in loaded.state.deleted
    deleted = operator_client.post(f"{url}/delete", {"confirm": SUBJECT})
    assert deleted.status_code == 302 and deleted["Location"] == PAGE and SUBJECT in loaded.state.deleted


def test_without_a_registry_404_and_a_down_registry_503_within_the_deadline(viewer_client, kafka_bootstrap, dead_port):
    schema_registry._registries.clear()
    adapters.reset()
    missing = viewer_client.get(API)
    assert missing.status_code == 404 and "names no schema registry" in missing.json()["error"]
    assert missing["Content-Type"] == "application/json"
    assert ">Schemas</a>" not in viewer_client.get("/clusters/kafka/topics").content.decode()
    with override_settings(KAFKA_SCHEMA_REGISTRY_URL=f"http://127.0.0.1:{dead_port}", BROKER_TIMEOUT_SECONDS=2):
        adapters.reset()
        schema_registry._registries.clear()
        started = time.monotonic()
        down = viewer_client.get(API)
        assert down.status_code == 503 and down.json()["error"]
        assert viewer_client.get(f"{API}/x/y").status_code == 503
        assert time.monotonic() - started < 5
        assert viewer_client.get(f"{PAGE}/x/y").status_code == 503
    schema_registry._registries.clear()
    adapters.reset()


def test_a_registry_that_errors_is_503(viewer_client, kafka_bootstrap, standin):
    standin.state.down = True
    response = viewer_client.get(API)
    assert response.status_code == 503 and response["Content-Type"] == "application/json"


def test_a_read_only_token_checks_compatibility_but_never_registers(operator, loaded):
    _, raw = ApiToken.issue(operator, read_only=True)
    headers = {"Authorization": f"Bearer {raw}"}
    client = Client()
    body = {"schema": avro(), "type": "AVRO"}
    check = client.post(f"{API}/{SUBJECT}/check", body, content_type="application/json", headers=headers)
    assert check.status_code == 200 and check.json()["compatible"] is True
    refused = client.post(f"{API}/{SUBJECT}", body, content_type="application/json", headers=headers)
    assert refused.status_code == 403 and len(loaded.state.subjects[SUBJECT]) == 2
