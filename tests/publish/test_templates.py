"""Saved messages: shared per cluster, listed, reused to fill a publish form, deleted; audited."""

from __future__ import annotations

from streams.models import AuditEvent


def test_save_list_use_and_delete(operator_client, viewer, unique):
    body = {
        "name": "an order",
        "cluster": "kafka",
        "target": unique,
        "key": "order-{{i}}",
        "value": '{"id": "{{uuid}}"}',
        "encoding": "json",
        "headers": [["source", "streamdesk"]],
        "partition": 0,
    }
    saved = operator_client.post("/api/v1/templates", body, content_type="application/json")
    assert saved.status_code == 201, saved.content
    template = saved.json()
    assert template["name"] == "an order" and template["target"] == unique and template["kind"] == "kafka"
    assert template["headers"] == [["source", "streamdesk"]] and template["created_by"] == "olivia"

    again = operator_client.post("/api/v1/templates", {**body, "value": "{}"}, content_type="application/json")
    assert again.status_code == 201 and again.json()["id"] == template["id"] and again.json()["value"] == "{}"

    listed = operator_client.get("/api/v1/templates").json()["items"]
    assert [t["name"] for t in listed] == ["an order"]

    operator_client.force_login(viewer)
    assert operator_client.get("/api/v1/templates?cluster=kafka").json()["total"] == 1
    assert operator_client.delete(f"/api/v1/templates/{template['id']}").status_code == 403


def test_bad_templates_are_400(operator_client):
    cases = [
        ({"cluster": "kafka", "target": "t"}, "name"),
        ({"name": "x", "cluster": "kafka", "target": "bad topic"}, "target"),
        ({"name": "x", "cluster": "nats", "target": "a.>"}, "target"),
        ({"name": "x", "cluster": "kafka", "target": "t", "value": "{", "encoding": "json"}, "value"),
    ]
    for body, field in cases:
        response = operator_client.post("/api/v1/templates", body, content_type="application/json")
        assert response.status_code == 400 and response.json()["field"] == field, (body, response.content)
    assert (
        operator_client.post(
            "/api/v1/templates", {"name": "x", "cluster": "nope"}, content_type="application/json"
        ).status_code
        == 404
    )


def test_a_saved_message_fills_the_publish_form(operator_client, unique):
    saved = operator_client.post(
        "/api/v1/templates",
        {"name": "echo", "cluster": "nats", "target": f"{unique}.echo", "value": "ping", "mode": "request"},
        content_type="application/json",
    ).json()
    page = operator_client.get("/clusters/nats/publish", {"template": saved["id"]}).content.decode()
    assert f'value="{unique}.echo"' in page and ">ping</textarea>" in page
    assert 'value="request" checked' in page and "Filled from the saved message" in page
    assert operator_client.delete(f"/api/v1/templates/{saved['id']}").status_code == 200
    assert operator_client.delete(f"/api/v1/templates/{saved['id']}").status_code == 404
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "result"))
    assert actions == [
        ("publish.template.save", "ok"),
        ("publish.template.delete", "ok"),
        ("publish.template.delete", "error"),
    ]
