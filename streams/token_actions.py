"""A user's own API tokens: issue (the raw value is returned once) and revoke, audited.

The same ``ApiToken.issue`` as ``manage.py create_token``: an expiry in days and a read-only
scope are optional. A user only ever sees and revokes their own tokens.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from streams import audit
from streams.errors import InvalidInput, NotFound
from streams.models import ApiToken

TOKEN_CREATE = "token.create"  # noqa: S105 - audit action names
TOKEN_REVOKE = "token.revoke"  # noqa: S105
MAX_DAYS = 3650
MAX_NAME = 100
MAX_TOKENS_PER_USER = 100


def parse_days(raw: Any) -> int | None:
    """Empty: never expires; else a whole number of days, 1 to 3650."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise InvalidInput("days must be a whole number of days.", field="days")
    try:
        days = int(str(raw).strip()) if not isinstance(raw, int) else raw
    except ValueError:
        raise InvalidInput("days must be a whole number of days.", field="days") from None
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_DAYS}.", field="days")
    return days


async def do_create_token(user: User, *, name: str, days: int | None, read_only: bool) -> tuple[ApiToken, str]:
    name = name.strip()
    if len(name) > MAX_NAME:
        raise InvalidInput(f"The name is longer than {MAX_NAME} characters.", field="name")
    if await ApiToken.objects.filter(user_id=user.pk).acount() >= MAX_TOKENS_PER_USER:
        raise InvalidInput(f"You have {MAX_TOKENS_PER_USER} API tokens: revoke one first.", field=None)
    expires_at = timezone.now() + timedelta(days=days) if days is not None else None

    async def run() -> tuple[ApiToken, str]:
        return await sync_to_async(ApiToken.issue)(user, name, expires_at=expires_at, read_only=read_only)

    return await audit.perform(
        user,
        TOKEN_CREATE,
        run,
        target=name,
        params={"name": name, "days": days, "read_only": read_only},
        describe=lambda issued: f"{issued[0].prefix}… issued",
    )


async def do_revoke_token(user: User, token_id: int) -> ApiToken:
    token = await ApiToken.objects.filter(pk=token_id, user_id=user.pk).afirst()
    if token is None:
        raise NotFound("You have no API token with this id.")

    async def run() -> ApiToken:
        await token.adelete()
        return token

    return await audit.perform(
        user,
        TOKEN_REVOKE,
        run,
        target=token.name,
        params={"prefix": token.prefix},
        describe=lambda revoked: f"{revoked.prefix}… revoked",
    )


async def tokens_of(user: User) -> list[ApiToken]:
    return [token async for token in ApiToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")]
