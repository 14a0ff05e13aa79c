"""A refused write is checked for CSRF first: a cross-site page leaves no audit record under a victim's name."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from streams.models import AuditEvent


@pytest.fixture
def csrf_viewer(viewer: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    return client


def _csrf_token(client: Client) -> str:
    assert client.get("/clusters").status_code == 200
    return client.cookies["csrftoken"].value


@pytest.mark.parametrize("headers", [{}, {"X-CSRFToken": "x" * 32}], ids=["no-token", "wrong-token"])
def test_cross_site_api_write_is_a_csrf_failure_and_not_audited(csrf_viewer, headers):
    _csrf_token(csrf_viewer)  # the victim has a CSRF cookie; the attacker cannot read it
    response = csrf_viewer.post(
        "/api/v1/clusters/kafka/topics", {"name": "forged"}, content_type="application/json", headers=headers
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    delete = csrf_viewer.delete("/api/v1/clusters/kafka/groups/billing", headers=headers)
    assert delete.status_code == 403 and "CSRF" in delete.json()["error"]
    assert not AuditEvent.objects.exists()


def test_cross_site_page_form_write_is_a_csrf_failure_and_not_audited(csrf_viewer):
    response = csrf_viewer.post("/clusters/kafka/new-topic", {"name": "forged"})
    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert not AuditEvent.objects.exists()


def test_same_site_write_by_a_viewer_is_still_refused_and_audited(csrf_viewer):
    token = _csrf_token(csrf_viewer)
    response = csrf_viewer.post(
        "/api/v1/clusters/kafka/topics",
        {"name": "refused"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 403 and "needs the 'edit' action" in response.json()["error"]
    rows = list(AuditEvent.objects.values_list("action", "username", "result"))
    assert rows == [("kafka.topic.create", "victor", "denied")]


def test_anonymous_api_write_is_still_401(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/clusters/kafka/topics", {}, content_type="application/json")
    assert response.status_code == 401
