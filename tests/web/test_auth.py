"""Login everywhere, the two roles, and bearer tokens, as each persona sees them."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from streams.models import ApiToken


def test_anonymous_page_redirects_to_login(client, db):
    response = client.get("/clusters")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/clusters")


def test_anonymous_api_gets_401_json_not_a_redirect(client, db):
    response = client.get("/api/v1/clusters")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] and response.json()["field"] is None


def test_login_form_logs_in_and_lands_on_clusters(client, viewer):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    response = client.post("/accounts/login/", {"username": "victor", "password": "viewer-pass-123"}, follow=True)
    assert response.redirect_chain[-1][0] == "/clusters"
    assert b'data-cluster="nats"' in response.content


def test_wrong_password_is_refused(client, viewer):
    response = client.post("/accounts/login/", {"username": "victor", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content


def test_stranger_without_a_role_gets_403(stranger_client):
    api = stranger_client.get("/api/v1/clusters")
    assert api.status_code == 403 and "Viewers" in api.json()["error"]
    page = stranger_client.get("/clusters")
    assert page.status_code == 403 and b"Viewers" in page.content


@pytest.mark.parametrize("path", ["/clusters", "/lag", "/workers"])
def test_viewer_reads_every_area(viewer_client, path):
    assert viewer_client.get(path).status_code == 200
    assert viewer_client.get(f"/api/v1{path}").status_code == 200


def test_the_audit_trail_is_the_operators(viewer_client, operator):
    assert viewer_client.get("/api/v1/audit").status_code == 403
    viewer_client.force_login(operator)
    assert viewer_client.get("/audit").status_code == 200
    assert viewer_client.get("/api/v1/audit").status_code == 200


def test_create_token_prints_a_working_bearer_token(operator, client):
    out = io.StringIO()
    call_command("create_token", "olivia", stdout=out)
    raw = out.getvalue().strip()
    assert raw.startswith("sdk_")
    stored = ApiToken.objects.get(user=operator)
    assert stored.key_hash != raw and raw not in stored.key_hash  # only the hash is kept
    response = client.get("/api/v1/clusters", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_bad_or_revoked_token_gets_401(operator, client):
    _, raw = ApiToken.issue(operator)
    assert client.get("/api/v1/clusters", headers={"Authorization": "Bearer sdk_wrong"}).status_code == 401
    ApiToken.objects.filter(user=operator).delete()
    assert client.get("/api/v1/clusters", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_token_of_inactive_user_is_refused(operator, client):
    _, raw = ApiToken.issue(operator)
    operator.is_active = False
    operator.save()
    assert client.get("/api/v1/clusters", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_create_token_for_unknown_user_fails_clearly(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_token", "ghost")


def test_unknown_api_path_is_json_404_or_401(viewer_client, db):
    response = viewer_client.get("/api/v1/no/such/thing")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    from django.test import Client

    assert Client().get("/api/v1/no/such/thing").status_code == 401


def test_kind_listing_names_only_clusters_of_that_kind(viewer_client):
    response = viewer_client.get("/api/v1/clusters/kind/kafka")
    assert response.status_code == 200
    assert [c["slug"] for c in response.json()["clusters"]] == ["kafka"]


def test_api_write_with_session_needs_csrf(operator, db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post("/api/v1/audit", data="{}", content_type="application/json")
    # no POST handler: 405 JSON, and the method list
    assert response.status_code == 405 and response.json()["error"]


def test_form_failure_never_redirects_to_a_foreign_referer(operator_client):
    response = operator_client.post(
        "/clusters/kafka/new-topic", {"name": "bad name!"}, headers={"Referer": "https://evil.example/phish"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    same_site = operator_client.post(
        "/clusters/kafka/new-topic",
        {"name": "bad name!"},
        headers={"Referer": "http://testserver/clusters/kafka/topics"},
    )
    assert same_site["Location"] == "http://testserver/clusters/kafka/topics"


def test_unknown_api_post_with_a_session_is_json_404_not_the_csrf_page(operator, db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post("/api/v1/no/such/thing", {}, content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json") and response.json()["error"]


def test_refused_writes_are_audited_as_denied(viewer_client, settings):
    from streams.models import AuditEvent

    response = viewer_client.post("/api/v1/clusters/kafka/topics", {"name": "refused"}, content_type="application/json")
    assert response.status_code == 403
    settings.READ_ONLY = True
    assert viewer_client.delete("/api/v1/clusters/kafka/groups/billing").status_code == 403
    events = list(AuditEvent.objects.order_by("id").values_list("action", "username", "result", "cluster"))
    assert events == [
        ("kafka.topic.create", "victor", "denied", "kafka"),
        ("kafka.group.delete", "victor", "denied", "kafka"),
    ]
