"""What a checked sign-in makes of its claims: the link, the name, the provider's groups, the audit."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group, User
from django.test import Client

from console.access import can_operate, can_read
from streams.models import AuditEvent
from streams.oidc.accounts import do_sign_in
from streams.oidc.models import OidcIdentity, ProviderGroup
from streams.oidc.provider import SignInFailed

ISSUER = "https://idp.example.test"
OTHER = "https://other-idp.example.test"


def _claims(sub: str, username: str = "", groups: Any = None, issuer: str = ISSUER) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": issuer, "sub": sub, "aud": "streamdesk"}
    if username:
        claims["preferred_username"] = username
    if groups is not None:
        claims["groups"] = groups
    return claims


def sign_in(claims: dict[str, Any]) -> User:
    return async_to_sync(do_sign_in)(claims)


def _groups(user: User) -> list[str]:
    return sorted(user.groups.values_list("name", flat=True))


@pytest.mark.django_db
def test_first_sign_in_creates_a_passwordless_user_linked_by_issuer_and_sub():
    user = sign_in(_claims("s-1", "ada", ["data-team"]))
    assert user.username == "ada" and not user.has_usable_password()
    identity = OidcIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject, identity.preferred_username) == (ISSUER, "s-1", "ada")
    # The provider renames the account: still the same user, found by the link alone.
    again = sign_in(_claims("s-1", "ada.lovelace", ["data-team"]))
    assert again.pk == user.pk and again.username == "ada"
    assert OidcIdentity.objects.get(user=user).preferred_username == "ada.lovelace"


@pytest.mark.django_db
def test_a_local_password_user_of_that_name_is_never_taken_over(operator: User):
    user = sign_in(_claims("s-2", operator.username, ["Operators"]))
    assert user.pk != operator.pk and user.username == "s-2"
    assert not OidcIdentity.objects.filter(user=operator).exists()
    operator.refresh_from_db()
    assert operator.check_password("operator-pass-123")
    # The same sub at another issuer is another person, and "s-2" is taken now.
    other = sign_in(_claims("s-2", operator.username, issuer=OTHER))
    assert other.pk not in (user.pk, operator.pk) and other.username == "s-2-2"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["Operators", "Viewers"])
def test_an_idp_group_named_like_a_role_grants_nothing(operator: User, viewer: User, role: str):
    user = sign_in(_claims("s-3", "eve", [role]))
    assert _groups(user) == [f"sso:{role}"]
    assert not user.groups.filter(name=role).exists()
    assert ProviderGroup.objects.get(group__name=f"sso:{role}").name == role
    fresh = User.objects.get(pk=user.pk)
    assert not async_to_sync(can_read)(fresh) and not async_to_sync(can_operate)(fresh)
    client = Client()
    client.force_login(fresh)
    assert client.get("/api/v1/clusters").status_code == 403
    assert client.get("/accounts/no-access/").status_code == 200


@pytest.mark.django_db
def test_groups_sync_on_every_sign_in_and_leave_local_groups_alone(viewer: User):
    user = sign_in(_claims("s-4", "bob", ["a", "b"]))
    local = Group.objects.create(name="local-team")
    user.groups.add(local, Group.objects.get(name="Viewers"))
    sign_in(_claims("s-4", "bob", ["b", "c"]))
    assert _groups(user) == ["Viewers", "local-team", "sso:b", "sso:c"]
    sign_in(_claims("s-4", "bob"))  # no claim at all: no provider groups
    assert _groups(user) == ["Viewers", "local-team"]
    # Groups the claim named once stay, owned by the provider, for other members.
    assert set(ProviderGroup.objects.values_list("name", flat=True)) == {"a", "b", "c"}


@pytest.mark.django_db
def test_provider_groups_are_kept_apart_from_a_local_group_of_the_same_name():
    Group.objects.create(name="sso:ops")  # made by hand, not by the provider
    user = sign_in(_claims("s-5", "kim", ["ops"]))
    (name,) = _groups(user)
    assert name.startswith("sso:ops@") and ProviderGroup.objects.get(name="ops").group.name == name
    # Another issuer's "ops" is another group.
    other = sign_in(_claims("s-5", "kim2", ["ops"], issuer=OTHER))
    assert _groups(other) != [name]


@pytest.mark.django_db
def test_a_malformed_groups_claim_counts_as_no_groups():
    user = sign_in(_claims("s-6", "max", {"not": "a list"}))
    assert _groups(user) == []
    user = sign_in(_claims("s-6", "max", ["ok", 7, None, "", "x" * 300]))
    assert _groups(user) == ["sso:ok"]


@pytest.mark.django_db
def test_a_deactivated_user_cannot_sign_in():
    user = sign_in(_claims("s-7", "gone"))
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(SignInFailed, match="deactivated"):
        sign_in(_claims("s-7", "gone"))


@pytest.mark.django_db
def test_audit_records_carry_the_identity_as_the_provider_names_it(operator: User):
    user = sign_in(_claims("s-8", "nia", ["x"]))
    event = AuditEvent.objects.get(action="sso.sign_in", user=user)
    assert event.username == "nia"
    assert event.params == {
        "groups": ["x"],
        "identity": {"issuer": ISSUER, "sub": "s-8", "preferred_username": "nia"},
    }
    client = Client()
    client.force_login(operator)
    # The audit page and its API show it too.
    assert f"nia · sub s-8 at {ISSUER}" in client.get("/audit").content.decode()
    (item,) = [e for e in client.get("/api/v1/audit").json()["items"] if e["action"] == "sso.sign_in"]
    assert item["username"] == "nia" and item["params"]["identity"]["sub"] == "s-8"
    # A local user's records stay as they were.
    client.post("/accounts/tokens/", {"name": "n"})
    assert "identity" not in AuditEvent.objects.get(action="token.create", user=operator).params
