"""A real OpenID provider (oidc-provider on Node.js) and a real Streamdesk (Daphne) signed in to it.

The SSO tests skip, saying why, where Node.js 20+ or npm is missing or ``npm ci`` fails.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev import devstack
from dev.oidc_provider import OidcProvider, missing_reason
from dev.webprocess import WebProcess
from tests.sso.helpers import Stack

CLIENT_ID = "streamdesk"
CLIENT_SECRET = "streamdesk-test-secret"
PROVIDER_NAME = "Test IdP"
# Account ids are the provider's ``sub``; each test signs in with accounts of its own.
ACCOUNTS: dict[str, dict[str, object]] = {
    "u-1001": {"preferred_username": "ada", "email": "ada@example.test", "groups": ["data-team", "Operators"]},
    "u-2001": {"preferred_username": "bob", "groups": ["data-team", "Viewers"]},
    # "watcher" is the web process's local password user.
    "u-3001": {"preferred_username": "watcher", "groups": ["Operators"]},
    "u-4001": {"preferred_username": "mallory", "groups": []},
    "u-5001": {"preferred_username": "trudy", "groups": []},
    "u-6001": {"preferred_username": "lin", "groups": ["data-team"]},
    "u-7001": {"preferred_username": "tok", "groups": []},
    "u-8001": {"preferred_username": "uma", "groups": ["data-team"]},
    "u-8002": {"preferred_username": "ursula", "groups": ["data-team"]},
}


@pytest.fixture(scope="session")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    workdir: Path = tmp_path_factory.mktemp("sso")
    web_port = devstack.free_port()
    web_url = f"http://127.0.0.1:{web_port}"
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"{web_url}/accounts/oidc/callback/"],
        "post_logout_redirect_uris": [f"{web_url}/accounts/login/"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    provider = OidcProvider(workdir / "provider", clients=[client], accounts=copy.deepcopy(ACCOUNTS)).start()
    settings = {
        "OIDC_ISSUER": provider.issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_PROVIDER_NAME": PROVIDER_NAME,
    }
    web = WebProcess(workdir / "web", {}, settings, port=web_port)
    try:
        web.prepare().start()
        yield Stack(provider, web)
    finally:
        web.stop()
        provider.stop()


@pytest.fixture(autouse=True)
def honest_provider(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with the provider's accounts as above and its ID tokens untouched."""
    yield
    if "sso" in request.fixturenames:
        stack: Stack = request.getfixturevalue("sso")
        stack.provider.accounts = copy.deepcopy(ACCOUNTS)
        stack.provider.control(accounts=stack.provider.accounts, tamper=None)
