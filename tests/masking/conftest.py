"""Masking rules for the tests: topics, subjects and streams whose names start with ``masked-`` (or
``MASKED_``) hide ``$.card.number`` and ``email`` fields and anything that looks like a phone number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from streams import masking

RULES_TOML = """\
[[mask]]
topics = ["masked-*"]
subjects = ["masked-*"]
streams = ["MASKED_*"]
kv_buckets = ["masked_*"]
fields = ["$.card.number", "email"]

[[mask]]
topics = ["masked-*"]
subjects = ["masked-*"]
streams = ["MASKED_*"]
pattern = "\\\\d{3}-\\\\d{4}"
replace = "[phone]"
"""

SECRET_CARD = "4111 1111 1111 1111"
SECRET_EMAIL = "ann@example.com"
SECRET_PHONE = "555-1234"


def order(n: int) -> dict[str, Any]:
    return {
        "n": n,
        "card": {"number": SECRET_CARD, "brand": "visa"},
        "email": SECRET_EMAIL,
        "note": f"call {SECRET_PHONE}",
    }


MASKED_ORDER_FIELDS = {"card": {"number": "***", "brand": "visa"}, "email": "***", "note": "call [phone]"}


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "masking.toml"
    path.write_text(RULES_TOML)
    return path


@pytest.fixture
def mask_rules(settings: Any, rules_file: Path) -> masking.Rules:
    """The rules above, in force in this process (as STREAMDESK_MASKING loads them)."""
    rules = masking.load(str(rules_file))
    settings.MASKING = rules
    settings.BROKER_CACHE_SECONDS = 0
    return rules


def no_secret(text: str) -> bool:
    return not any(secret in text for secret in (SECRET_CARD, SECRET_EMAIL, SECRET_PHONE))


@pytest.fixture
def as_viewer(viewer: Any) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def as_operator(operator: Any) -> Client:
    client = Client()
    client.force_login(operator)
    return client
