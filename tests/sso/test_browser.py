"""A real browser signs in with the provider's button and logs out through the provider's
end-session page (the Content-Security-Policy lets the logout form's redirect leave the site)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.sso.conftest import PROVIDER_NAME
from tests.sso.helpers import Stack
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.xdist_group("sso"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


def test_sign_in_with_the_button_and_log_out_at_the_provider(sso: Stack):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            refused: list[str] = []

            def csp(message: Any) -> None:
                if "Content Security" in message.text:
                    refused.append(message.text)

            page.on("console", csp)
            page.goto(f"{sso.web.url}/clusters")
            page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()

            expect(page).to_have_url(re.compile(re.escape(sso.provider.issuer) + r"/interaction/"))
            page.locator('input[name="login"]').fill("u-6001")
            page.locator('input[name="password"]').fill("any-password")
            page.get_by_role("button", name="Sign-in").click()
            page.get_by_role("button", name="Continue").click()

            expect(page).to_have_url(f"{sso.web.url}/accounts/no-access/")
            expect(page.get_by_role("heading", name="You have no access yet")).to_be_visible()
            expect(page.locator(".topbar .who")).to_contain_text("lin")

            page.get_by_role("button", name="Log out").click()
            expect(page).to_have_url(re.compile(re.escape(sso.provider.issuer) + r"/session/end"))
            page.get_by_role("button", name="Yes, sign me out").click()
            expect(page).to_have_url(re.compile(re.escape(f"{sso.web.url}/accounts/login/")))
            expect(page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}")).to_be_visible()
            assert refused == []
        finally:
            browser.close()
