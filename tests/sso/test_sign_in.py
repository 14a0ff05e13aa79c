"""Single sign-on against a real OpenID provider, driven like a browser (redirects, the provider's
login and consent forms) against Streamdesk on Daphne."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.sso.conftest import PROVIDER_NAME
from tests.sso.helpers import Stack, browser, forms, sign_in, walk

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sso")]


def _csrf(client: httpx.Client) -> dict[str, str]:
    return {"X-CSRFToken": client.cookies["csrftoken"]}


def test_login_page_offers_the_provider(sso: Stack):
    page = httpx.get(f"{sso.web.url}/accounts/login/?next=/clusters", timeout=10)
    assert page.status_code == 200
    assert f"Sign in with {PROVIDER_NAME}" in page.text
    assert 'href="/accounts/oidc/login/?next=/clusters"' in page.text


def test_the_authorization_request_carries_pkce_state_and_nonce(sso: Stack):
    start = browser().get(f"{sso.web.url}/accounts/oidc/login/")
    assert start.status_code == 302
    target = urlsplit(start.headers["location"])
    query = {key: values[0] for key, values in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{sso.provider.issuer}/auth"  # from discovery
    assert query["response_type"] == "code" and query["client_id"] == "streamdesk"
    assert query["scope"] == "openid profile email"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    assert query["redirect_uri"] == f"{sso.web.url}/accounts/oidc/callback/"


def test_sign_in_creates_the_linked_user_whose_provider_groups_grant_nothing(sso: Stack):
    client, page = sign_in(sso, "u-1001")
    # No policy names the provider's groups yet: a clear page, not a 403 on every link.
    assert urlsplit(str(page.url)).path == "/accounts/no-access/"
    assert page.status_code == 200 and "You have no access yet" in page.text

    assert sso.linked_user("u-1001") == "ada"
    user = sso.user("ada")
    assert user is not None and user[2].startswith("!"), "a user made by sign-in has no usable password"
    # The IdP's "Operators" is a provider group, not the role of that name.
    assert sso.groups("ada") == ["sso:Operators", "sso:data-team"]
    owned = sso.rows("SELECT name, issuer FROM oidc_providergroup ORDER BY name")
    assert ("Operators", sso.provider.issuer) in owned and ("data-team", sso.provider.issuer) in owned
    assert client.get(f"{sso.web.url}/api/v1/clusters").status_code == 403
    assert client.get(f"{sso.web.url}/clusters").status_code == 403

    (params,) = sso.rows(
        "SELECT e.params FROM streams_auditevent e JOIN auth_user u ON u.id = e.user_id "
        "WHERE e.action = 'sso.sign_in' AND u.username = 'ada'"
    )[0]
    recorded = json.loads(params)
    assert recorded["groups"] == ["Operators", "data-team"]
    assert recorded["identity"] == {"issuer": sso.provider.issuer, "sub": "u-1001", "preferred_username": "ada"}


def test_second_sign_in_syncs_the_changed_groups_and_keeps_local_ones(sso: Stack):
    sign_in(sso, "u-2001")
    assert sso.groups("bob") == ["sso:Viewers", "sso:data-team"]
    # An administrator puts the user in the local Viewers role: sign-ins never touch it.
    with sso.db() as db:
        db.execute(
            "INSERT INTO auth_user_groups (user_id, group_id) SELECT u.id, g.id FROM auth_user u, auth_group g "
            "WHERE u.username = 'bob' AND g.name = 'Viewers'"
        )
    sso.provider.set_groups("u-2001", ["platform"])
    client, page = sign_in(sso, "u-2001")
    assert sso.groups("bob") == ["Viewers", "sso:platform"]
    assert sso.linked_user("u-2001") == "bob"
    assert len(sso.rows("SELECT id FROM auth_user WHERE username LIKE 'bob%'")) == 1
    # Now a role grants reading: the sign-in lands where it was asked to go.
    assert urlsplit(str(page.url)).path == "/clusters" and page.status_code == 200
    assert client.get(f"{sso.web.url}/api/v1/clusters").status_code == 200


def test_a_local_user_of_the_same_name_is_not_taken_over(sso: Stack):
    before = sso.user("watcher")
    assert before is not None
    _, page = sign_in(sso, "u-3001")
    assert sso.linked_user("u-3001") == "u-3001", "named by sub: preferred_username is a local user's"
    assert sso.user("watcher") == before, "the local user is unchanged (password included)"
    assert sso.rows("SELECT id FROM oidc_oidcidentity WHERE user_id = ?", before[0]) == []
    assert re.search(r'<div class="who">.*?title="What can I do here\?">u-3001</a>', page.text, re.S)
    assert "Operators" not in sso.groups("u-3001")
    # The local user's bearer token and password still work, and are its own.
    local = httpx.get(f"{sso.web.url}/api/v1/clusters", headers={"Authorization": f"Bearer {sso.web.token}"})
    assert local.status_code == 200


def _forged_state(url: str) -> str:
    return re.sub(r"state=[^&]+", "state=forged-state-value", url)


def test_a_tampered_state_is_refused(sso: Stack):
    client, page = sign_in(sso, "u-4001", doctor=_forged_state)
    assert page.status_code == 403 and "Sign-in failed" in page.text
    assert "State not equal" in page.text or "state" in page.text.lower()
    assert sso.linked_user("u-4001") is None
    assert client.get(f"{sso.web.url}/api/v1/clusters").status_code == 401


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        ("foreign-key", "signature"),
        ("nonce", "nonce"),
        ("audience", "aud"),
        ("issuer", "iss"),
        ("expired", "exp"),
    ],
)
def test_a_doctored_id_token_is_refused(sso: Stack, tamper: str, says: str):
    sso.provider.control(tamper=tamper)
    client, page = sign_in(sso, "u-5001")
    assert page.status_code == 403 and "Sign-in failed" in page.text, page.text[:2000]
    assert says in page.text.lower(), re.findall(r"<p class=\"banner error\"[^>]*>(.*?)</p>", page.text)
    assert sso.linked_user("u-5001") is None
    assert client.get(f"{sso.web.url}/api/v1/clusters").status_code == 401


def test_the_same_sign_in_succeeds_untampered(sso: Stack):
    """The refusals above are the doctoring's doing: the same account signs in when the token is honest."""
    sign_in(sso, "u-5001")
    assert sso.linked_user("u-5001") == "trudy"


def test_scope_claims_only_in_userinfo_still_name_the_user_and_its_groups(sso: Stack):
    """OpenID Connect Core 5.4: with an access token issued, a provider may answer the profile
    scope's claims from userinfo alone; the ID token then carries little more than ``sub``."""
    sso.provider.control(tamper="userinfo")
    sign_in(sso, "u-8001")
    assert sso.linked_user("u-8001") == "uma"
    assert sso.groups("uma") == ["sso:data-team"]


def test_userinfo_naming_another_subject_is_refused(sso: Stack):
    sso.provider.control(tamper="userinfo-other-sub")
    _, page = sign_in(sso, "u-8002")
    assert page.status_code == 403 and "userinfo names another subject" in page.text
    assert sso.linked_user("u-8002") is None


def test_logout_ends_both_sessions_through_the_end_session_endpoint(sso: Stack):
    client, _ = sign_in(sso, "u-6001")
    assert client.get(f"{sso.web.url}/api/v1/clusters").status_code == 403  # signed in, no rights
    out = client.post(f"{sso.web.url}/accounts/logout/", headers=_csrf(client))
    assert out.status_code == 302
    target = urlsplit(out.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == sso.provider.issuer
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == [f"{sso.web.url}/accounts/login/"]
    assert query["id_token_hint"][0].count(".") == 2
    # Streamdesk's session is gone at once; the provider asks to confirm, then comes back.
    assert client.get(f"{sso.web.url}/api/v1/clusters").status_code == 401
    back = walk(client, out, sso, login="u-6001")
    assert str(back.url).startswith(f"{sso.web.url}/accounts/login/") and back.status_code == 200
    # The provider's session ended too: signing in again asks for the login again.
    response = client.get(f"{sso.web.url}/accounts/oidc/login/")
    for _ in range(10):
        if not response.is_redirect:
            break
        response = client.get(httpx.URL(str(response.url)).join(response.headers["location"]))
    assert any("login" in form.fields for form in forms(response.text)), response.text[:1500]


def test_an_sso_user_makes_an_api_token_on_the_page(sso: Stack):
    client, _ = sign_in(sso, "u-7001")
    page = client.post(
        f"{sso.web.url}/accounts/tokens/", data={"name": "ci", "days": "7", "read_only": "1"}, headers=_csrf(client)
    )
    assert page.status_code == 200
    raw = re.search(r"(sdk_[A-Za-z0-9_-]{20,})", page.text)
    assert raw, page.text[:2000]
    fresh = browser()
    # The token is valid (403: its user has no rights yet, not 401).
    answer = fresh.get(f"{sso.web.url}/api/v1/clusters", headers={"Authorization": f"Bearer {raw.group(1)}"})
    assert answer.status_code == 403
    (params,) = sso.rows("SELECT params FROM streams_auditevent WHERE action = 'token.create' ORDER BY id DESC")[0]
    assert json.loads(params)["identity"]["sub"] == "u-7001"
