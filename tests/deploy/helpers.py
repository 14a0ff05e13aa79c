"""Signing in to a real web process the way a browser does."""

from __future__ import annotations

import re

import httpx

from dev.webprocess import PASSWORD, USERNAME, WebProcess


def session_cookies(web: WebProcess) -> str:
    with httpx.Client(base_url=web.url, timeout=10) as client:
        page = client.get("/accounts/login/")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, page.text[:500]
        answer = client.post(
            "/accounts/login/",
            data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": match.group(1)},
            headers={"Referer": f"{web.url}/accounts/login/"},
        )
        assert answer.status_code == 302, answer.text[:500]
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())
