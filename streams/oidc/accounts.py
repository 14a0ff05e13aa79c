"""A checked sign-in becomes a local user: linked by (issuer, sub), groups synced from the claim.

A provider account is never matched to a local user by name: the first sign-in creates a user
(named by ``preferred_username`` when no one has that name, else by ``sub``) with no usable
password, and later sign-ins find it by the link alone. The groups claim is the whole truth
about the provider's groups on every sign-in: groups it no longer names lose the user. Only
groups the provider owns (``ProviderGroup``) are touched; local groups, the two roles included,
are never joined or left here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction
from django.utils import timezone

from streams import audit
from streams.oidc.models import OidcIdentity, ProviderGroup
from streams.oidc.provider import SignInFailed

SSO_SIGN_IN = "sso.sign_in"
GROUP_PREFIX = "sso:"
MAX_GROUPS = 500
MAX_NAME = 150  # Django's username and group name length


def claimed_groups(claims: dict[str, Any]) -> list[str]:
    """The groups claim as names: a list of strings (or one string); anything else counts as none."""
    raw = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return []
    names = {item.strip() for item in raw if isinstance(item, str) and item.strip() and len(item) <= 255}
    return sorted(names)[:MAX_GROUPS]


def _free_username(preferred: str, subject: str) -> str:
    taken = User.objects.filter
    if preferred and len(preferred) <= MAX_NAME and not taken(username=preferred).exists():
        return preferred
    base = subject if len(subject) <= MAX_NAME else hashlib.sha256(subject.encode()).hexdigest()
    name, n = base, 1
    while taken(username=name).exists():
        n += 1
        suffix = f"-{n}"
        name = base[: MAX_NAME - len(suffix)] + suffix
    return name


def _group_name(issuer: str, name: str) -> str:
    """The Django group's name: prefixed, so it never is a local group (a role) of the same name."""
    plain = f"{GROUP_PREFIX}{name}"
    if len(plain) <= MAX_NAME and not Group.objects.filter(name=plain).exists():
        return plain
    tag = "@" + hashlib.sha256(f"{issuer}\n{name}".encode()).hexdigest()[:10]
    return plain[: MAX_NAME - len(tag)] + tag


def _owned_groups(issuer: str, names: Iterable[str]) -> list[Group]:
    wanted = list(names)
    owned = {
        pg.name: pg.group for pg in ProviderGroup.objects.select_related("group").filter(issuer=issuer, name__in=wanted)
    }
    for name in wanted:
        if name not in owned:
            group = Group.objects.create(name=_group_name(issuer, name))
            ProviderGroup.objects.create(group=group, issuer=issuer, name=name)
            owned[name] = group
    return [owned[name] for name in wanted]


def sync_groups(user: User, issuer: str, names: list[str]) -> None:
    """The user's groups owned by ``issuer`` become exactly ``names``; other groups stay as they are."""
    wanted = {group.pk: group for group in _owned_groups(issuer, names)}
    current = set(user.groups.filter(provider__issuer=issuer).values_list("pk", flat=True))
    gone = current - wanted.keys()
    if gone:
        user.groups.remove(*gone)
    new = [group for pk, group in wanted.items() if pk not in current]
    if new:
        user.groups.add(*new)


def _link(claims: dict[str, Any]) -> User:
    issuer = str(claims["iss"])
    subject = str(claims["sub"])
    preferred = str(claims.get("preferred_username") or "").strip()
    email = str(claims.get("email") or "")[:254]
    with transaction.atomic():
        identity = OidcIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        if identity is None:
            user = User(username=_free_username(preferred, subject), email=email)
            user.set_unusable_password()
            user.save()
            identity = OidcIdentity(user=user, issuer=issuer, subject=subject)
        user = identity.user
        if not user.is_active:
            raise SignInFailed("This account is deactivated in Streamdesk.")
        identity.preferred_username = preferred[:255]
        identity.email = email
        identity.last_sign_in_at = timezone.now()
        identity.save()
        sync_groups(user, issuer, claimed_groups(claims))
        return user


async def do_sign_in(claims: dict[str, Any]) -> User:
    """The local user for a checked ID token's claims (created on first sign-in), audited."""
    try:
        user = await sync_to_async(_link)(claims)
    except IntegrityError:
        # Two first sign-ins of one account at once: the other one created the user, link to it.
        user = await sync_to_async(_link)(claims)
    await audit.record(user, SSO_SIGN_IN, target=str(claims["iss"])[:500], params={"groups": claimed_groups(claims)})
    return user


async def identity_of(user: Any) -> OidcIdentity | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return await OidcIdentity.objects.filter(user_id=user.pk).afirst()
