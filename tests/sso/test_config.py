"""Single sign-on settings: offered only when configured, a half-configured one fails start-up."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tests.web.test_config import run_check

CONFIGURED = {
    "OIDC_ISSUER": "https://idp.example.test/realms/main",
    "OIDC_CLIENT_ID": "streamdesk",
    "OIDC_CLIENT_SECRET": "s3cret",
    "OIDC_PROVIDER_NAME": "",
}


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"OIDC_ISSUER": "https://idp.example.test"}, "set together"),
        ({"OIDC_CLIENT_ID": "x", "OIDC_CLIENT_SECRET": "y"}, "set together"),
        ({**CONFIGURED, "OIDC_ISSUER": "idp.example.test"}, "issuer URL"),
        ({**CONFIGURED, "OIDC_SCOPES": "profile email"}, "must include openid"),
    ],
)
def test_a_half_or_wrongly_configured_provider_fails_start_up(tmp_path, env, says):
    result = run_check(tmp_path, **env)
    assert result.returncode != 0
    assert "OIDC_" in result.stderr and says in result.stderr


def test_a_configured_provider_passes_the_checks(tmp_path):
    result = run_check(tmp_path, **CONFIGURED)
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_the_login_page_offers_the_provider_only_when_configured(client: Client):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with" not in page
    assert client.get("/accounts/oidc/login/").status_code == 404
    with override_settings(**CONFIGURED):
        page = client.get("/accounts/login/?next=/lag").content.decode()
        assert "Sign in with idp.example.test" in page
        assert 'href="/accounts/oidc/login/?next=/lag"' in page
    with override_settings(**{**CONFIGURED, "OIDC_PROVIDER_NAME": "Acme SSO"}):
        assert "Sign in with Acme SSO" in client.get("/accounts/login/").content.decode()


@pytest.mark.django_db
def test_an_unreachable_provider_is_a_clear_503(client: Client, dead_port: int):
    with override_settings(**{**CONFIGURED, "OIDC_ISSUER": f"http://127.0.0.1:{dead_port}"}):
        page = client.get("/accounts/oidc/login/")
    assert page.status_code == 503
    assert "discovery document could not be read" in page.content.decode()


def test_the_sso_tests_skip_saying_why_without_node(monkeypatch: pytest.MonkeyPatch, tmp_path):
    from dev import oidc_provider

    monkeypatch.setenv("PATH", str(tmp_path))
    reason = oidc_provider._find_missing()
    assert reason is not None and "`node`" in reason and "Node.js 20+" in reason
