"""The OpenID provider, as Authlib's Django client speaks to it.

Discovery comes from ``OIDC_ISSUER``; the authorization request carries ``state``, a ``nonce``
and a PKCE S256 challenge, all kept in the session until the callback. The callback's ID token
is checked by Authlib against the issuer's JWKS (signature, with the algorithms discovery
lists) and its claims (``iss`` = the discovered issuer, ``aud`` = our client, ``exp``/``iat``,
the session's ``nonce``, ``azp`` and ``at_hash`` where present). Authlib's client is synchronous (requests): these
functions are called off the event loop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.http import HttpRequest
from joserfc.errors import JoseError
from requests import RequestException

NAME = "oidc"
DISCOVERY_PATH = "/.well-known/openid-configuration"


class SignInFailed(Exception):
    """The provider's answer was refused (or the provider could not be reached); ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SignedIn:
    """The checked ID token's claims, and the raw token (kept for the logout's ``id_token_hint``)."""

    claims: dict[str, Any]
    id_token: str


_lock = threading.Lock()
_clients: dict[tuple[str, str, str, str], Any] = {}


def configured() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID and settings.OIDC_CLIENT_SECRET)


def issuer() -> str:
    return str(settings.OIDC_ISSUER)


def display_name() -> str:
    """What the login page's button names: ``OIDC_PROVIDER_NAME``, else the issuer's host."""
    return str(settings.OIDC_PROVIDER_NAME or urlparse(issuer()).hostname or issuer())


def _client() -> Any:
    """One Authlib client per configuration (its discovery document and JWKS are cached in it)."""
    key = (issuer(), settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET, settings.OIDC_SCOPES)
    with _lock:
        client = _clients.get(key)
        if client is None:
            oauth = OAuth()
            client = oauth.register(
                NAME,
                client_id=settings.OIDC_CLIENT_ID,
                client_secret=settings.OIDC_CLIENT_SECRET,
                server_metadata_url=issuer().rstrip("/") + DISCOVERY_PATH,
                client_kwargs={
                    "scope": settings.OIDC_SCOPES,
                    "code_challenge_method": "S256",
                    "default_timeout": settings.OIDC_TIMEOUT_SECONDS,
                },
            )
            _clients[key] = client
        return client


def forget() -> None:
    """Drop the cached discovery documents and keys (tests; a provider that rotated everything)."""
    with _lock:
        _clients.clear()


def metadata() -> dict[str, Any]:
    """The discovery document; its ``issuer`` must be the configured one (OpenID Connect Discovery 4.3)."""
    client = _client()
    try:
        found = dict(client.load_server_metadata())
    except (RequestException, ValueError) as exc:
        forget()
        raise SignInFailed(f"The identity provider's discovery document could not be read: {exc}") from None
    if str(found.get("issuer", "")).rstrip("/") != issuer().rstrip("/"):
        forget()
        raise SignInFailed(f"The discovery document names another issuer ({found.get('issuer')!r}).")
    return found


def authorize_redirect_url(request: HttpRequest, redirect_uri: str) -> str:
    """The provider's authorization URL; state, nonce and the PKCE verifier go into the session."""
    metadata()
    response = _client().authorize_redirect(request, redirect_uri)
    return str(response["Location"])


def finish(request: HttpRequest) -> SignedIn:
    """Check the callback (state, then the code exchange with the PKCE verifier, then the ID token)."""
    found = metadata()
    # Authlib checks ``iss`` by default but ``aud`` only through ``azp``: a token for another
    # client naming us as its authorized party would pass. Both are required to be ours.
    claims_options = {
        "iss": {"essential": True, "values": [found["issuer"]]},
        "aud": {"essential": True, "values": [settings.OIDC_CLIENT_ID]},
    }
    try:
        token = _client().authorize_access_token(request, claims_options=claims_options)
    except OAuthError as exc:
        raise SignInFailed(f"The sign-in was refused: {exc.description or exc.error}") from None
    except JoseError as exc:
        raise SignInFailed(f"The ID token was refused: {exc.error}: {exc.description or exc}") from None
    except AuthlibBaseError as exc:
        raise SignInFailed(f"The sign-in was refused: {exc.description or exc.error}") from None
    except (RequestException, ValueError) as exc:
        raise SignInFailed(f"The identity provider could not be reached: {exc}") from None
    checked = token.get("userinfo")
    id_token = token.get("id_token")
    # Authlib checks an ID token only when one came back: an answer without one is no sign-in.
    if not id_token or not checked:
        raise SignInFailed("The identity provider answered without an ID token.")
    if not checked.get("sub"):
        raise SignInFailed("The ID token names no subject.")
    claims = dict(checked)
    if _needs_userinfo(claims) and found.get("userinfo_endpoint") and token.get("access_token"):
        claims = {**_userinfo(token, str(claims["sub"])), **claims}
    return SignedIn(claims=claims, id_token=str(id_token))


def _needs_userinfo(claims: dict[str, Any]) -> bool:
    """A provider keeping to OpenID Connect Core 5.4 answers scope claims from userinfo, not in the
    ID token: without them the user would be named by ``sub`` and lose every provider group."""
    return settings.OIDC_GROUPS_CLAIM not in claims or "preferred_username" not in claims


def _userinfo(token: dict[str, Any], subject: str) -> dict[str, Any]:
    try:
        answer = dict(_client().userinfo(token=token))
    except (RequestException, ValueError, AuthlibBaseError) as exc:
        # Refused rather than signed in without groups, which would drop the user from all of them.
        raise SignInFailed(f"The identity provider's userinfo could not be read: {exc}") from None
    if str(answer.get("sub")) != subject:
        raise SignInFailed("The identity provider's userinfo names another subject than the ID token.")
    return answer


def end_session_url(id_token: str, post_logout_redirect_uri: str) -> str | None:
    """RP-initiated logout at the provider, where its discovery offers ``end_session_endpoint``."""
    try:
        found = metadata()
    except SignInFailed:
        return None
    if not found.get("end_session_endpoint"):
        return None
    created = _client().create_logout_url(
        post_logout_redirect_uri=post_logout_redirect_uri,
        id_token_hint=id_token,
        client_id=settings.OIDC_CLIENT_ID,
    )
    return str(created["url"])
