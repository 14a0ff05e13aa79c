"""A script's way through a real sign-in: follow redirects, fill the provider's login and consent
forms, and look into the web process's own SQLite database afterwards."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from dev.oidc_provider import OidcProvider
from dev.webprocess import WebProcess


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append(Form(named.get("action", ""), named.get("method", "get").lower()))
        elif tag in ("input", "button") and self.forms and named.get("name"):
            if named.get("type") in ("checkbox", "radio") and "checked" not in named:
                return
            self.forms[-1].fields.setdefault(named["name"], named.get("value", ""))


def forms(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


@dataclass
class Stack:
    provider: OidcProvider
    web: WebProcess

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(Path(self.web.workdir) / "web.sqlite3")

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.db() as connection:
            return list(connection.execute(sql, params).fetchall())

    def user(self, username: str) -> tuple[Any, ...] | None:
        found = self.rows("SELECT id, username, password FROM auth_user WHERE username = ?", username)
        return found[0] if found else None

    def linked_user(self, subject: str) -> str | None:
        found = self.rows(
            "SELECT u.username FROM auth_user u JOIN oidc_oidcidentity i ON i.user_id = u.id "
            "WHERE i.subject = ? AND i.issuer = ?",
            subject,
            self.provider.issuer,
        )
        return found[0][0] if found else None

    def groups(self, username: str) -> list[str]:
        found = self.rows(
            "SELECT g.name FROM auth_group g JOIN auth_user_groups ug ON ug.group_id = g.id "
            "JOIN auth_user u ON u.id = ug.user_id WHERE u.username = ? ORDER BY g.name",
            username,
        )
        return [name for (name,) in found]


def browser() -> httpx.Client:
    return httpx.Client(timeout=15, follow_redirects=False)


def walk(
    client: httpx.Client,
    response: httpx.Response,
    stack: Stack,
    *,
    login: str,
    doctor: Callable[[str], str] | None = None,
    steps: int = 25,
) -> httpx.Response:
    """Follow redirects and submit the provider's forms until Streamdesk answers with a page.

    ``doctor`` may rewrite the redirect back to Streamdesk's callback (a tampered ``state``).
    """
    for _ in range(steps):
        if response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            if doctor is not None and "/accounts/oidc/callback/" in target:
                target = doctor(target)
            response = client.get(target)
            continue
        at_provider = str(response.url).startswith(stack.provider.issuer + "/")
        if not at_provider:
            return response
        found = [form for form in forms(response.text) if form.method == "post"]
        assert response.status_code == 200 and found, (
            f"the provider answered {response.status_code}: {response.text[:1500]}"
        )
        form = found[0]
        data = dict(form.fields)
        if "login" in data or "password" in data:
            data.update(login=login, password="any-password")
        response = client.post(urljoin(str(response.url), form.action), data=data)
    raise AssertionError("the sign-in did not end within the expected number of steps")


def sign_in(
    stack: Stack, login: str, *, client: httpx.Client | None = None, doctor: Callable[[str], str] | None = None
) -> tuple[httpx.Client, httpx.Response]:
    client = client or browser()
    start = client.get(f"{stack.web.url}/accounts/oidc/login/", params={"next": "/clusters"})
    assert start.status_code == 302, start.text[:1000]
    assert start.headers["location"].startswith(stack.provider.issuer + "/"), start.headers["location"]
    return client, walk(client, start, stack, login=login, doctor=doctor)
