"""A request's reply is masked like any message of the request's subject, for a sender who may publish
there but not unmask: on the publish API and on a service's "try it"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client, override_settings

from tests.masking.conftest import MASKED_ORDER_FIELDS, SECRET_EMAIL, order
from tests.publish.helpers import Responder

POLICIES = """
[[policy]]
name = "masked senders"
groups = ["senders"]
clusters = ["nats"]
subjects = ["masked-*"]
actions = ["view", "messages", "publish"]
"""


@pytest.fixture
def url(nats_urls: tuple[str, str]) -> str:
    return nats_urls[0]


@pytest.fixture
def sender(db: None, tmp_path: Path, django_user_model: type[User]) -> Any:
    path = tmp_path / "policies.toml"
    path.write_text(POLICIES)
    with override_settings(POLICIES_FILE=str(path)):
        user = django_user_model.objects.create_user("sam", password="sender-pass-123")
        user.groups.add(Group.objects.get_or_create(name="senders")[0])
        client = Client()
        client.force_login(user)
        yield client


def ask(client: Client, subject: str, value: dict[str, Any]) -> dict[str, Any]:
    # The test responder answers with the request's text reversed.
    body = {"subject": subject, "value": json.dumps(value)[::-1], "mode": "request"}
    response = client.post("/api/v1/clusters/nats/publish", body, content_type="application/json")
    assert response.status_code == 200, response.content
    answer: dict[str, Any] = response.json()
    return answer


def test_a_reply_is_masked_for_a_sender_without_unmask(mask_rules, sender: Client, as_operator: Client, url, unique):
    subject = f"masked-{unique}.echo"
    with Responder(url, subject):
        masked = ask(sender, subject, order(1))
        whole = ask(as_operator, subject, order(1))
    assert json.loads(masked["reply"]["value"]["text"]) == {"n": 1, **MASKED_ORDER_FIELDS}
    assert masked["reply"]["value"]["base64"] is None and SECRET_EMAIL not in json.dumps(masked)
    assert json.loads(whole["reply"]["value"]["text"]) == order(1)
