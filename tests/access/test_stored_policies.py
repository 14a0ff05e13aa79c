"""Policies kept in the admin: checked like the file's, merged with them, and the file's shown read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from console.checks import configuration_errors
from streams.models import Policy
from tests.access.conftest import SCOPE_GROUP

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(django_user_model: Any) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", password="root-pass-123"))
    return client


def _form(**fields: Any) -> dict[str, Any]:
    return {"name": "streams team", "enabled": "on", "groups": "nats-team", "clusters": "nats", **fields}


def test_the_admin_checks_a_policy_as_the_file_reader_does(root: Client):
    none = root.post("/admin/streams/policy/add/", _form(actions=["view"]))
    assert none.status_code == 200 and "the policy covers nothing" in none.content.decode()
    assert not Policy.objects.exists()
    unknown = root.post("/admin/streams/policy/add/", _form(actions=["publsh"], streams="*"))
    assert unknown.status_code == 200 and not Policy.objects.exists()
    saved = root.post("/admin/streams/policy/add/", _form(actions=["view", "messages"], streams="ORDERS*\nAUDIT"))
    assert saved.status_code == 302
    row = Policy.objects.get()
    assert row.actions == ["view", "messages"]
    assert row.as_mapping()["streams"] == ["ORDERS*", "AUDIT"]


def test_the_admin_lists_the_file_policies_read_only(root: Client, orders_policies: Path):
    page = root.get("/admin/streams/policy/").content.decode()
    assert "From the policies file" in page and str(orders_policies) in page
    assert "topics = orders-*" in page and SCOPE_GROUP in page


def test_a_bad_policies_file_stops_the_start(settings, tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[policy]]\ngroups = ['g']\nclusters = ['*']\ntopics = ['*']\nactions = ['fly']\n")
    settings.POLICIES_FILE = str(bad)
    errors = configuration_errors()
    assert any(e.startswith("streamdesk.E003 STREAMDESK_POLICIES:") and "unknown action 'fly'" in e for e in errors)
    assert any("line 1" in e for e in errors)
