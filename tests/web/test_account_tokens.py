"""My API tokens: any signed-in user (one made by single sign-on too, with no password) lists,
creates and revokes their own tokens, audited; nobody else's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from streams.models import ApiToken, AuditEvent
from streams.oidc.models import OidcIdentity
from streams.token_actions import MAX_TOKENS_PER_USER

ISSUER = "https://idp.example.test"


@pytest.fixture
def sso_user(db: None) -> User:
    user = User(username="ada")
    user.set_unusable_password()
    user.save()
    OidcIdentity.objects.create(user=user, issuer=ISSUER, subject="s-1", preferred_username="ada")
    return user


@pytest.fixture
def sso_client(client: Client, sso_user: User) -> Client:
    client.force_login(sso_user)
    return client


def _bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def _raw(html: str) -> str:
    found = re.findall(r'<code class="token-value">(sdk_[^<]+)</code>', html)
    assert len(found) == 1, html
    return found[0]


def test_create_shows_the_token_once_with_its_expiry_and_scope(sso_client: Client, sso_user: User, operator: User):
    page = sso_client.post("/accounts/tokens/", {"name": "ci", "days": "30", "read_only": "1"})
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    raw = _raw(page.content.decode())
    token = ApiToken.objects.get(key_hash=ApiToken.hash(raw))
    assert token.user == sso_user and token.name == "ci" and token.read_only
    assert token.expires_at is not None
    assert abs(token.expires_at - timezone.now() - timedelta(days=30)) < timedelta(minutes=1)
    # Listed afterwards by its prefix only.
    listing = sso_client.get("/accounts/tokens/").content.decode()
    assert token.prefix in listing and raw not in listing and "read-only" in listing
    # It authenticates as its user (who has no role yet: 403, not 401).
    assert Client().get("/api/v1/clusters", headers=_bearer(raw)).status_code == 403
    event = AuditEvent.objects.get(action="token.create")
    assert event.user == sso_user and event.result == "ok"
    assert event.params["days"] == 30 and event.params["read_only"] is True
    assert event.params["identity"] == {"issuer": ISSUER, "sub": "s-1", "preferred_username": "ada"}
    assert token.prefix in event.message and raw not in str(event.params) + event.message


def test_a_token_without_days_never_expires(operator_client: Client, operator: User):
    raw = _raw(operator_client.post("/accounts/tokens/", {"name": "forever"}).content.decode())
    token = ApiToken.objects.get(key_hash=ApiToken.hash(raw))
    assert token.expires_at is None and not token.read_only
    assert Client().get("/api/v1/clusters", headers=_bearer(raw)).status_code == 200


@pytest.mark.parametrize("days", ["0", "-3", "3651", "soon", "1.5"])
def test_bad_days_are_refused_and_nothing_is_issued(sso_client: Client, days: str):
    page = sso_client.post("/accounts/tokens/", {"name": "x", "days": days})
    assert page.status_code == 400
    assert "days must" in page.content.decode()
    assert not ApiToken.objects.exists() and not AuditEvent.objects.filter(action="token.create").exists()


def test_revoke_own_token_and_never_anothers(sso_client: Client, sso_user: User, operator: User):
    mine, raw = ApiToken.issue(sso_user, "mine")
    theirs, their_raw = ApiToken.issue(operator, "theirs")
    listing = sso_client.get("/accounts/tokens/").content.decode()
    assert mine.prefix in listing and theirs.prefix not in listing
    assert sso_client.post(f"/accounts/tokens/{theirs.pk}/revoke").status_code == 404
    assert ApiToken.objects.filter(pk=theirs.pk).exists()
    assert sso_client.get(f"/accounts/tokens/{mine.pk}/revoke").status_code == 405
    done = sso_client.post(f"/accounts/tokens/{mine.pk}/revoke")
    assert done.status_code == 302 and done["Location"] == "/accounts/tokens/"
    assert not ApiToken.objects.filter(pk=mine.pk).exists()
    assert Client().get("/api/v1/clusters", headers=_bearer(raw)).status_code == 401
    assert Client().get("/api/v1/clusters", headers=_bearer(their_raw)).status_code == 200
    event = AuditEvent.objects.get(action="token.revoke")
    assert event.user == sso_user and event.params["prefix"] == mine.prefix
    assert event.params["identity"]["sub"] == "s-1"


def test_the_page_needs_a_login_and_csrf(client: Client, sso_user: User):
    assert client.get("/accounts/tokens/").status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(sso_user)
    assert strict.post("/accounts/tokens/", {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_the_no_access_page_names_the_identity_and_links_the_tokens_page(sso_client: Client):
    page = sso_client.get("/accounts/no-access/").content.decode()
    assert 'href="/accounts/tokens/"' in page
    assert "You have no access yet" in page and ISSUER in page


def test_a_user_holds_at_most_a_hundred_tokens(sso_client: Client, sso_user: User):
    ApiToken.objects.bulk_create(
        ApiToken(user=sso_user, prefix="sdk_x", key_hash=f"{n:064x}") for n in range(MAX_TOKENS_PER_USER)
    )
    page = sso_client.post("/accounts/tokens/", {"name": "one more"})
    assert page.status_code == 400 and "revoke one first" in page.content.decode()
    assert ApiToken.objects.filter(user=sso_user).count() == MAX_TOKENS_PER_USER
