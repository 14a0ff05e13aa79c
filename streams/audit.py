"""The one way every write action runs: check nothing here, but record everything.

``perform`` runs the action, writes an ``AuditEvent`` with its outcome, and
re-raises failures so the caller still answers with the right status. The actor
is the user who asked, or None for Streamdesk itself (a managed consumer, a
scheduled task), recorded as "system". A user who signs in through the identity provider is
also recorded as the provider names them (``params["identity"]``: issuer, sub, preferred_username).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.apps import apps
from django.contrib.auth.models import User

from streams.errors import StreamdeskError
from streams.models import AuditEvent
from streams.redact import redact_urls

T = TypeVar("T")
Actor = User | None
SYSTEM = "system"


def _redacted(value: Any) -> Any:
    """Params as recorded: strings anywhere inside lose URL credentials."""
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


async def record(
    user: Actor,
    action: str,
    *,
    cluster: str = "",
    target: str = "",
    params: dict[str, Any] | None = None,
    result: str = AuditEvent.Result.OK,
    message: str = "",
) -> AuditEvent:
    authenticated = user is not None and user.is_authenticated
    username = SYSTEM if user is None else user.get_username() if authenticated else "anonymous"
    recorded = _redacted(params or {})
    if user is not None and authenticated:
        # Through the app registry: the sign-in code records audit events, so it cannot be imported here.
        identities = apps.get_model("oidc", "OidcIdentity").objects
        identity = await identities.filter(user_id=user.pk).afirst()
        if identity is not None:
            recorded = {**recorded, "identity": identity.as_audit()}
    return await AuditEvent.objects.acreate(
        user=user if authenticated else None,
        username=username,
        action=action,
        cluster=cluster,
        target=redact_urls(target)[:500],
        params=recorded,
        result=result,
        message=redact_urls(message)[:2000],
    )


async def perform(
    user: Actor,
    action: str,
    run: Callable[[], Awaitable[T]],
    *,
    cluster: str = "",
    target: str = "",
    params: dict[str, Any] | None = None,
    describe: Callable[[T], str] | None = None,
) -> T:
    try:
        outcome = await run()
    except StreamdeskError as exc:
        await record(
            user,
            action,
            cluster=cluster,
            target=target,
            params=params,
            result=AuditEvent.Result.ERROR,
            message=exc.message,
        )
        raise
    except Exception as exc:
        await record(
            user,
            action,
            cluster=cluster,
            target=target,
            params=params,
            result=AuditEvent.Result.ERROR,
            message=f"{exc.__class__.__name__}: {exc}",
        )
        raise
    await record(
        user,
        action,
        cluster=cluster,
        target=target,
        params=params,
        message=describe(outcome) if describe else "",
    )
    return outcome
