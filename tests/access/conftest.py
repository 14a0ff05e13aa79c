"""A user scoped by a policy to the topics ``orders-*`` of the ``kafka`` cluster, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client, override_settings

from streams.policies import ACTIONS

SCOPE_GROUP = "orders-team"


def policies_file(directory: Path, actions: tuple[str, ...] = ACTIONS, name: str = "policies.toml") -> Path:
    listed = ", ".join(f'"{a}"' for a in actions)
    path = directory / name
    path.write_text(
        f"""
[[policy]]
name = "orders"
groups = ["{SCOPE_GROUP}"]
clusters = ["kafka"]
topics = ["orders-*"]
actions = [{listed}]
"""
    )
    return path


@pytest.fixture
def orders_policies(tmp_path: Path) -> Iterator[Path]:
    """Every action, on orders-* of the kafka cluster only."""
    path = policies_file(tmp_path)
    with override_settings(POLICIES_FILE=str(path)):
        yield path


@pytest.fixture
def scoped(db: None, django_user_model: type[User], orders_policies: Path) -> User:
    user = django_user_model.objects.create_user("scot", password="scoped-pass-123")
    user.groups.add(Group.objects.get_or_create(name=SCOPE_GROUP)[0])
    return user


@pytest.fixture
def scoped_client(client: Client, scoped: User) -> Client:
    client.force_login(scoped)
    return client
