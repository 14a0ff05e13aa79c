"""Who may do what: authentication (session or bearer token) and the two roles.

Viewers read; Operators also write. Superusers can do all. ``STREAMDESK_READ_ONLY``
turns every write off, whoever asks, except those that only stop something (cancelling a
bulk job, pausing a managed consumer): an operator can still stop things. An API token may
expire, and may be read-only: it then reads like its user but never writes, whatever its
user's role.

``check_access`` is the one answer to "is this token or session still valid, and
what may it do": requests, socket handshakes and the periodic re-checks of open
sockets all ask it.

What a user may do where is decided by ``streams.policies``: ``evaluator(user)`` gathers
their groups, their built-in roles and the policies (``STREAMDESK_POLICIES`` and the
admin's); ``decision`` asks it one question, with the token's read-only scope and
read-only mode applied on top.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.contrib.auth import aget_user
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils import timezone

from streams import audit, masking, policies
from streams.masking import Mask
from streams.models import ApiToken
from streams.models import Policy as StoredPolicy
from streams.policies import Decision, Evaluator, Policy, PolicyError

logger = logging.getLogger("console.access")

READ_PERM = "streams.read_brokers"
OPERATE_PERM = "streams.operate_brokers"
LOGIN_REQUIRED = "Authentication required: log in or send 'Authorization: Bearer <token>'."
READ_ONLY_SCOPE_REFUSAL = "This API token is read-only: it cannot change anything (issue one without --read-only)."


class Unauthenticated(Exception):
    """No valid session or token: 401 under /api/, a login redirect elsewhere."""

    def __init__(self, message: str = LOGIN_REQUIRED) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Refused(Forbidden):
    """A policy decision said no; the message names the missing action and the resource."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.refusal())
        self.decision = decision


@dataclass(frozen=True)
class Access:
    """What a credential is worth right now.

    ``user`` is anonymous when the credential no longer counts (a token revoked or
    expired, a session logged out, a deactivated user); ``refusal`` then says why when
    there is more to say than "log in". ``may_read``: some role or policy applies to the
    user; ``may_write``: one of them grants a write, with the token's scope and read-only
    mode applied. ``policies`` answers what exactly, where.
    """

    user: Any
    may_read: bool = False
    may_write: bool = False
    token: ApiToken | None = None
    refusal: str | None = None
    policies: Evaluator | None = None

    @property
    def authenticated(self) -> bool:
        return bool(self.user.is_authenticated)

    @property
    def read_only_token(self) -> bool:
        return self.token is not None and self.token.read_only

    @property
    def close_code(self) -> int | None:
        """The WebSocket close code this access calls for (API.md): None while it may read."""
        if not self.authenticated:
            return 4401
        return None if self.may_read else 4403


async def _token(raw: str) -> tuple[Any, ApiToken | None, str | None]:
    try:
        token = await ApiToken.objects.select_related("user").aget(key_hash=ApiToken.hash(raw.strip()))
    except ApiToken.DoesNotExist:
        return AnonymousUser(), None, "This API token is not valid (unknown or revoked)."
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return AnonymousUser(), None, f"This API token expired at {token.expires_at:%Y-%m-%d %H:%M} UTC."
    if not token.user.is_active:
        return AnonymousUser(), None, None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        await ApiToken.objects.filter(pk=token.pk).aupdate(last_used_at=now)
    return token.user, token, None


async def _session_user(session_key: str) -> Any:
    """The user a stored session belongs to now (anonymous once logged out or its password changed)."""
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    return await aget_user(SimpleNamespace(session=store))  # type: ignore[arg-type]


async def _fresh(user: Any) -> Any:
    """The user as stored now: its active flag and groups may have changed (and perms are cached per object)."""
    from django.contrib.auth import get_user_model

    if not user.is_authenticated:
        return AnonymousUser()
    model = get_user_model()
    try:
        return await model._default_manager.aget(pk=user.pk)
    except model.DoesNotExist:
        return AnonymousUser()


async def check_access(*, token: str | None = None, session_key: str | None = None, user: Any = None) -> Access:
    """Is this bearer token / stored session / user still valid, and what may it do now?

    Give one of them: ``token`` (the raw bearer token), ``session_key`` (re-read from the
    session store, so a logout counts) or ``user`` (re-read from the database).
    """
    found: ApiToken | None = None
    refusal: str | None = None
    if token is not None:
        who, found, refusal = await _token(token)
    elif session_key:
        who = await _session_user(session_key)
    elif user is not None:
        who = await _fresh(user)
    else:
        who = AnonymousUser()
    if not (who.is_authenticated and who.is_active):
        return Access(AnonymousUser(), token=None, refusal=refusal)
    return await _access(who, found)


async def _access(who: Any, token: ApiToken | None) -> Access:
    mine = await evaluator(who)
    may_write = (
        mine.anything
        and not settings.READ_ONLY
        and not (token is not None and token.read_only)
        and any(p.actions - policies.READ_ACTIONS for p in mine.policies)
    )
    return Access(who, may_read=mine.anything, may_write=may_write, token=token, policies=mine)


async def token_user(raw: str) -> Any:
    """The active user a valid, unexpired bearer token belongs to, else an anonymous user."""
    return (await check_access(token=raw)).user


async def request_access(request: HttpRequest) -> Access:
    """The request's bearer token, else its session; sets ``request.user`` to whoever that is."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        access = await check_access(token=header.removeprefix("Bearer "))
        if access.authenticated:
            request.user = access.user
        return access
    user = await request.auser()
    if not (user.is_authenticated and user.is_active):
        return Access(user)
    return await _access(user, None)


async def authenticate(request: HttpRequest) -> Any:
    """The user behind a bearer token, else the session user (maybe anonymous)."""
    return (await request_access(request)).user


async def can_read(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and await user.ahas_perm(READ_PERM))


async def can_stop(user: Any) -> bool:
    """Has the Operators role: may stop things, read-only mode or not."""
    return bool(user.is_authenticated and user.is_active and await user.ahas_perm(OPERATE_PERM))


async def can_operate(user: Any) -> bool:
    if settings.READ_ONLY:
        return False
    return await can_stop(user)


async def require(user: Any, *, write: bool, stops: bool = False, token: ApiToken | None = None) -> None:
    """``stops``: the write only stops something, which read-only mode allows (operators still)."""
    if not user.is_authenticated:
        raise Unauthenticated()
    if write:
        if token is not None and token.read_only:
            raise Forbidden(READ_ONLY_SCOPE_REFUSAL)
        if settings.READ_ONLY and not stops:
            raise Forbidden("Streamdesk runs read-only (STREAMDESK_READ_ONLY); writes are switched off.")
        if not await can_stop(user):
            raise Forbidden("This needs the Operators role.")
    elif not await can_read(user):
        raise Forbidden("This needs the Viewers or Operators role.")


# -- policies -------------------------------------------------------------------------------------

READ_ONLY_MODE_REFUSAL = "Streamdesk runs read-only (STREAMDESK_READ_ONLY); writes are switched off."
OPERATORS_ONLY = "This needs the Operators role."
# Refused reads leave an audit record under this action (refused writes under their own).
ACCESS_DENIED = "access.denied"
NO_POLICY = "This needs the Viewers or Operators role, or a policy for one of your groups (see /me)."


@lru_cache(maxsize=8)
def _file_policies(path: str) -> tuple[Policy, ...]:
    return tuple(policies.load(path))


def file_policies() -> tuple[Policy, ...]:
    """``STREAMDESK_POLICIES``, read once per process (the start-up check reports its errors)."""
    path = settings.POLICIES_FILE
    return _file_policies(path) if path else ()


def stored_policy(row: StoredPolicy) -> Policy:
    return policies.from_mapping(row.as_mapping(), f"admin policy {row.name!r}", source=f"admin: {row.name}")


async def stored_policies() -> list[Policy]:
    found = []
    async for row in StoredPolicy.objects.filter(enabled=True):
        try:
            found.append(stored_policy(row))
        except PolicyError as exc:  # the admin's form checks them; a row written around it is skipped
            logger.warning("policy skipped: %s", exc)
    return found


async def user_groups(user: Any) -> frozenset[str]:
    """The names of the groups a user's policies are looked up by."""
    if not user.is_authenticated:
        return frozenset()
    return frozenset([name async for name in user.groups.values_list("name", flat=True)])


async def user_roles(user: Any) -> frozenset[str]:
    """The built-in roles a user holds, by their permissions (a group's name grants nothing)."""
    if not (user.is_authenticated and user.is_active):
        return frozenset()
    if user.is_superuser:
        return frozenset({policies.SUPERUSER})
    roles = set()
    if await user.ahas_perm(OPERATE_PERM):
        roles.add(policies.OPERATORS)
    if await user.ahas_perm(READ_PERM):
        roles.add(policies.VIEWERS)
    return frozenset(roles)


async def evaluator(user: Any) -> Evaluator:
    """A user's policies, for the many questions of one request."""
    if not (user.is_authenticated and user.is_active):
        return Evaluator(())
    return Evaluator(await user_groups(user), await user_roles(user), [*file_policies(), *await stored_policies()])


def scope_refusal(action: str, *, token: ApiToken | None = None, stops: bool = False) -> str | None:
    """Why the credential or the mode refuses ``action`` whatever the policies say, if it does."""
    if action in policies.READ_ACTIONS:
        return None
    if token is not None and token.read_only:
        return READ_ONLY_SCOPE_REFUSAL
    if settings.READ_ONLY and not stops:
        return READ_ONLY_MODE_REFUSAL
    return None


async def decision(
    user: Any, action: str, cluster: str, kind: str, name: str, *, token: ApiToken | None = None
) -> Decision:
    """The one question, asked for a user (and the token they came with)."""
    if scope_refusal(action, token=token) is not None:
        return Decision(False, action, cluster, kind, name)
    return (await evaluator(user)).decide(action, cluster, kind, name)


async def may_unmask(user: Any, cluster: str, kind: str, name: str) -> bool:
    """Whether ``user`` sees unmasked what masking rules cover in ``name`` (a resource of type
    ``kind``: topics, subjects, streams or kv_buckets) of the cluster ``cluster`` (its slug).

    The policies answer (their ``unmask`` action; Operators and superusers have it, Viewers do not);
    every output path asks here, and only here.
    """
    return (await decision(user, "unmask", cluster, kind, name)).allowed


async def read_mask(user: Any, cluster: str, kind: str, name: str) -> Mask:
    """How one read of ``name`` by ``user`` masks (see ``streams.masking.Mask``): the decision is asked
    only where there are rules at all."""
    rules = masking.active()
    if not rules:
        return Mask(rules, cluster, unmask=True)
    return Mask(rules, cluster, unmask=await may_unmask(user, cluster, kind, name))


async def audit_unmasked(user: Any, mask: Mask, kind: str, name: str, read: str) -> None:
    """One audit record for a read that showed covered data unmasked (nothing for any other read)."""
    if mask.audited:
        await record_unmasked(user, mask.cluster, kind, name, read)


async def record_unmasked(user: Any, cluster: str, kind: str, name: str, read: str) -> None:
    """``read``: what showed it (browse, message, export, search, tail, ...)."""
    await audit.record(user, masking.UNMASKED_READ, cluster=cluster, target=name, params={"kind": kind, "read": read})
