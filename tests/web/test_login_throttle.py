"""No password reset (no mail is configured), and failed logins throttled per username and address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from streams.models import ApiToken

LOGIN = "/accounts/login/"


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password_reset/",
        "/accounts/password_reset/done/",
        "/accounts/reset/MQ/set-password/",
        "/accounts/reset/done/",
    ],
)
def test_password_reset_pages_are_not_there(client, db, path):
    assert client.get(path).status_code == 404
    assert client.post(path, {"email": "victor@example.com"}).status_code in (403, 404)


def test_login_pages_offer_no_reset_link(client, db):
    for path in [LOGIN, "/admin/login/"]:
        page = client.get(path)
        assert page.status_code == 200
        assert b"password_reset" not in page.content and b"Forgotten" not in page.content


def _fail(client: Client, username: str, times: int) -> None:
    for _ in range(times):
        response = client.post(LOGIN, {"username": username, "password": "wrong-password"})
        assert response.status_code == 200 and b"did not match" in response.content


def test_after_the_limit_the_login_is_429_without_checking_the_password(client, viewer, operator, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    _fail(client, "victor", 4)
    # The fifth failure locks the pair out.
    locked = client.post(LOGIN, {"username": "victor", "password": "still-wrong"})
    assert locked.status_code == 429
    # Even the right password is refused now: it is not checked.
    right = client.post(LOGIN, {"username": "victor", "password": "viewer-pass-123"})
    assert right.status_code == 429 and b"Too many failed logins" in right.content
    assert "_auth_user_id" not in client.session
    # Another username from the same address, and the same username from another address, still log in.
    other = client.post(LOGIN, {"username": "olivia", "password": "operator-pass-123"})
    assert other.status_code == 302
    elsewhere = Client(REMOTE_ADDR="10.9.8.7")
    assert elsewhere.post(LOGIN, {"username": "victor", "password": "viewer-pass-123"}).status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, viewer):
    from axes.models import AccessAttempt

    _fail(client, "victor", 4)
    assert client.post(LOGIN, {"username": "victor", "password": "x"}).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert client.post(LOGIN, {"username": "victor", "password": "viewer-pass-123"}).status_code == 302


def test_a_success_resets_the_count(client, viewer):
    _fail(client, "victor", 4)
    assert client.post(LOGIN, {"username": "victor", "password": "viewer-pass-123"}).status_code == 302
    client.logout()
    _fail(client, "victor", 4)
    assert client.post(LOGIN, {"username": "victor", "password": "viewer-pass-123"}).status_code == 302


def test_the_admin_login_is_throttled_too(client, django_user_model):
    django_user_model.objects.create_superuser("root", password="root-pass-123")
    for _ in range(5):
        client.post("/admin/login/", {"username": "root", "password": "nope"})
    response = client.post("/admin/login/", {"username": "root", "password": "root-pass-123"})
    assert response.status_code == 429


def test_bearer_tokens_and_sessions_are_unaffected_by_a_lockout(client, operator, operator_client):
    _, raw = ApiToken.issue(operator)
    stranger = Client()
    _fail(stranger, "olivia", 4)
    assert stranger.post(LOGIN, {"username": "olivia", "password": "wrong"}).status_code == 429
    assert stranger.post(LOGIN, {"username": "olivia", "password": "operator-pass-123"}).status_code == 429
    api = Client().get("/api/v1/clusters", headers={"Authorization": f"Bearer {raw}"})
    assert api.status_code == 200
    assert operator_client.get("/api/v1/clusters").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_the_lockout_holds_on_the_asgi_stack(async_client, viewer):
    for _ in range(4):
        response = await async_client.post(LOGIN, {"username": "victor", "password": "wrong-password"})
        assert response.status_code == 200
    assert (await async_client.post(LOGIN, {"username": "victor", "password": "wrong"})).status_code == 429
    right = await async_client.post(LOGIN, {"username": "victor", "password": "viewer-pass-123"})
    assert right.status_code == 429 and b"victor" in right.content
