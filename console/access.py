"""Who may do what: authentication (session or bearer token) and the two roles.

Viewers read; Operators also write. Superusers can do all. ``STREAMDESK_READ_ONLY``
turns every write off, whoever asks, except those that stop something (``stopping``: pausing a
managed consumer), which operators keep.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils import timezone

from streams.models import ApiToken

READ_PERM = "streams.read_brokers"
OPERATE_PERM = "streams.operate_brokers"


class Unauthenticated(Exception):
    """No valid session or token: 401 under /api/, a login redirect elsewhere."""


class Forbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def token_user(raw: str) -> Any:
    """The active user a bearer token belongs to, else an anonymous user."""
    try:
        token = await ApiToken.objects.select_related("user").aget(key_hash=ApiToken.hash(raw.strip()))
    except ApiToken.DoesNotExist:
        return AnonymousUser()
    if not token.user.is_active:
        return AnonymousUser()
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        await ApiToken.objects.filter(pk=token.pk).aupdate(last_used_at=now)
    return token.user


async def authenticate(request: HttpRequest) -> Any:
    """The user behind a bearer token, else the session user (maybe anonymous)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = await token_user(header.removeprefix("Bearer "))
        if user.is_authenticated:
            request.user = user
        return user
    return await request.auser()


async def can_read(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and await user.ahas_perm(READ_PERM))


async def can_operate(user: Any, *, stopping: bool = False) -> bool:
    if settings.READ_ONLY and not stopping:
        return False
    return bool(user.is_authenticated and user.is_active and await user.ahas_perm(OPERATE_PERM))


async def require(user: Any, *, write: bool, stopping: bool = False) -> None:
    if not user.is_authenticated:
        raise Unauthenticated()
    if write:
        if settings.READ_ONLY and not stopping:
            raise Forbidden("Streamdesk runs read-only (STREAMDESK_READ_ONLY); writes are switched off.")
        if not await can_operate(user, stopping=stopping):
            raise Forbidden("This needs the Operators role.")
    elif not await can_read(user):
        raise Forbidden("This needs the Viewers or Operators role.")
