"""Real servers for the suite, and the people who use Streamdesk.

Session fixtures start nats-server (JetStream, monitoring), tansu and, when a
test needs it, Valkey, on free ports; under xdist every worker has its own.
STREAMDESK_TEST_KAFKA=apache puts Apache Kafka (dev/apache_kafka.py) where tansu
would be. When KAFKA_BOOTSTRAP_SERVERS / NATS_URL (+ NATS_MONITOR_URL) / REDIS_URL
are set, the same tests run against those servers instead.

Every test that reaches Kafka (it asks for ``kafka_bootstrap`` or ``apache_kafka``,
directly or through another fixture) is marked ``kafka``, so ``-m kafka`` runs the Kafka tests alone.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client, override_settings

from dev import apache_kafka as apache
from dev import devstack
from streams import adapters
from streams.schemas import registry as schema_registry
from tests.brokers import KAFKA_BROKER
from tests.processes import celery
from tests.schemas.standin import StandinRegistry

EXTERNAL = {
    name: os.environ.get(name, "") for name in ("KAFKA_BOOTSTRAP_SERVERS", "NATS_URL", "NATS_MONITOR_URL", "REDIS_URL")
}
ROLES = {"Viewers": ["read_brokers"], "Operators": ["read_brokers", "operate_brokers"]}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``kafka`` the tests whose own fixtures reach ``kafka_bootstrap`` or ``apache_kafka``
    (every test reaches the first through the autouse ``broker_settings``, which does not count)."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        seen: set[str] = set()
        pending = [name for name in info.initialnames if name != "broker_settings"]
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            for definition in info.name2fixturedefs.get(name, ()):
                pending.extend(definition.argnames)
        if seen & {"kafka_bootstrap", "apache_kafka"}:
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka_broker() -> str:
    """ "tansu", "apache" or "external": for tests whose assertions depend on what the broker can do."""
    return KAFKA_BROKER


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def apache_kafka(servers_dir: Path) -> Iterator[apache.ApacheKafka]:
    """A single-node Apache Kafka (PLAINTEXT, SASL_SSL with SCRAM users, the StandardAuthorizer),
    for what tansu cannot do; the Kafka tests use this one too under STREAMDESK_TEST_KAFKA=apache."""
    reason = apache.missing_reason()
    if reason:
        pytest.skip(reason)
    server = apache.apache_kafka(servers_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest, servers_dir: Path) -> Iterator[str]:
    if EXTERNAL["KAFKA_BOOTSTRAP_SERVERS"]:
        yield EXTERNAL["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if KAFKA_BROKER == "apache":
        yield request.getfixturevalue("apache_kafka").bootstrap
        return
    server = devstack.tansu_server(servers_dir).start()
    yield f"127.0.0.1:{server.port}"
    server.stop()


@pytest.fixture(scope="session")
def nats_urls(servers_dir: Path) -> Iterator[tuple[str, str]]:
    """(client URL, monitoring URL)."""
    if EXTERNAL["NATS_URL"]:
        yield EXTERNAL["NATS_URL"], EXTERNAL["NATS_MONITOR_URL"]
        return
    server = devstack.nats_server(servers_dir).start()
    yield f"nats://127.0.0.1:{server.port}", f"http://127.0.0.1:{server.extra_ports['monitor']}"
    server.stop()


@pytest.fixture(scope="session")
def redis_url(servers_dir: Path) -> Iterator[str]:
    if EXTERNAL["REDIS_URL"]:
        yield EXTERNAL["REDIS_URL"]
        return
    server = devstack.valkey_server(servers_dir).start()
    yield f"redis://127.0.0.1:{server.port}/0"
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def broker_settings(kafka_bootstrap: str, nats_urls: tuple[str, str]) -> Iterator[None]:
    """Point the default clusters (slugs ``kafka`` and ``nats``) at the test servers."""
    with override_settings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        NATS_URL=nats_urls[0],
        NATS_MONITOR_URL=nats_urls[1],
        STREAMDESK_CLUSTERS="",
        READ_ONLY=False,
    ):
        yield
    adapters.reset()


@pytest.fixture(scope="session", autouse=True)
def close_async_db_connections(django_db_setup: None) -> Iterator[None]:
    """Async tests reach the database through asgiref's one sync thread; close that
    connection before the test database is dropped (PostgreSQL refuses otherwise)."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture(autouse=True)
def fresh_cluster_list() -> None:
    """Each test sees the clusters as configured now and the brokers as they are now,
    not as an earlier test's cache saw them; adapters themselves are reused."""
    adapters.invalidate()
    adapters.forget_answers()


@pytest.fixture
def unique() -> str:
    """A name no other test (or earlier run against an external server) uses."""
    return f"sd-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def dead_port() -> int:
    """A local port with nothing listening: connections are refused at once."""
    return devstack.free_port()


def _role(name: str) -> Group:
    group, _ = Group.objects.get_or_create(name=name)
    group.permissions.set(Permission.objects.filter(content_type__app_label="streams", codename__in=ROLES[name]))
    return group


@pytest.fixture
def operator(db: None, django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user("olivia", password="operator-pass-123")
    user.groups.add(_role("Operators"))
    return user


@pytest.fixture
def viewer(db: None, django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user("victor", password="viewer-pass-123")
    user.groups.add(_role("Viewers"))
    return user


@pytest.fixture
def stranger(db: None, django_user_model: type[User]) -> User:
    """Logged in, but in no role."""
    return django_user_model.objects.create_user("sam", password="stranger-pass-123")


@pytest.fixture
def operator_client(client: Client, operator: User) -> Client:
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client: Client, viewer: User) -> Client:
    client.force_login(viewer)
    return client


@pytest.fixture
def stranger_client(client: Client, stranger: User) -> Client:
    client.force_login(stranger)
    return client


ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The test database as a URL, for processes the suite starts (they share it)."""
    from django.db import connection

    params = connection.settings_dict
    if params["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}/{params['NAME']}"


@pytest.fixture(scope="session")
def process_env(
    django_db_setup: None, redis_url: str, kafka_bootstrap: str, nats_urls: tuple[str, str], servers_dir: Path
) -> dict[str, str]:
    """The environment of a Streamdesk process (Celery, runconsumers) that shares this run's servers and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMDESK_", "PYTEST_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "STREAMDESK_VAR_DIR": str(servers_dir / "var"),
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "NATS_URL": nats_urls[0],
            "NATS_MONITOR_URL": nats_urls[1],
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="session")
def celery_worker(process_env: dict[str, str], redis_url: str, servers_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker on this run's Redis and database; tasks sent from here reach it."""
    from console.celery import app

    previous = app.conf.broker_url
    # Tasks sent from this process go to the worker's Redis (settings said "in-memory" at start-up).
    app.conf.broker_url = redis_url
    app._pool = None
    try:
        with celery(process_env, servers_dir, name=f"test-{os.getpid()}", pool="threads", concurrency=2) as started:
            yield started.worker
    finally:
        app.conf.broker_url = previous
        app._pool = None


@pytest.fixture
def standin() -> Iterator[StandinRegistry]:
    """A Confluent-compatible Schema Registry stand-in on a real socket, as the default Kafka cluster's."""
    server = StandinRegistry()
    schema_registry._registries.clear()
    with override_settings(KAFKA_SCHEMA_REGISTRY_URL=server.url):
        adapters.reset()
        yield server
    server.close()
    schema_registry._registries.clear()
    adapters.reset()
