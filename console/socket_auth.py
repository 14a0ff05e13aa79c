"""Who is on the other end of a WebSocket, and whether its Origin may open one.

Browsers send an Origin with every WebSocket handshake and cannot set an
Authorization header on one; scripts send no Origin and can. Channels'
``AllowedHostsOriginValidator`` refuses a handshake without an Origin (unless
ALLOWED_HOSTS is ``*``), which would shut out every script. ``OriginOrBearer`` keeps
it for browsers and lets a handshake without an Origin through only when it carries
``Authorization: Bearer``; its cookies are removed, so such a socket is the token's
user or nobody, and a cross-site page can still never ride on a session cookie.
"""

from __future__ import annotations

from typing import Any

from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser

from console.access import Access, check_access, token_user

ASGIApp = Any


def _header(scope: dict[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def bearer_token(scope: dict[str, Any]) -> str | None:
    raw = _header(scope, b"authorization")
    if raw is None:
        return None
    text = raw.decode("latin1")
    return text.removeprefix("Bearer ").strip() if text.startswith("Bearer ") else None


class OriginOrBearer:
    def __init__(self, application: ASGIApp) -> None:
        self.application = application
        self.browsers = AllowedHostsOriginValidator(application)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") == "websocket" and _header(scope, b"origin") is None and bearer_token(scope):
            headers = [(k, v) for k, v in scope.get("headers", ()) if k.lower() != b"cookie"]
            return await self.application({**scope, "headers": headers}, receive, send)
        return await self.browsers(scope, receive, send)


async def socket_user(scope: dict[str, Any]) -> Any:
    """The bearer token's user when the handshake has one, else the session's user."""
    token = bearer_token(scope)
    if token is not None:
        return await token_user(token)
    return scope.get("user") or AnonymousUser()


async def socket_access(scope: dict[str, Any]) -> Access:
    """What the socket's credential is worth now: its bearer token, else its session as
    stored now (a logout, a password change, a revoked or expired token or a removed role
    all show). Open sockets call this periodically; ``close_code`` says how to close."""
    token = bearer_token(scope)
    if token is not None:
        return await check_access(token=token)
    session = scope.get("session")
    key = getattr(session, "session_key", None)
    if key:
        return await check_access(session_key=key)
    return await check_access(user=scope.get("user") or AnonymousUser())
