"""Credentials in server URLs are never shown: pages, API answers, admin, audit rows and logs.

A real nats-server that requires a user and password is reached through URLs that
carry them (two comma-separated client URLs and a monitoring URL), and tansu through
a Kafka URL with userinfo; every answer and log line is searched for the password.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission, User

from dev import devstack
from streams import adapters, audit
from streams.errors import BrokerUnavailable
from streams.models import AuditEvent, Cluster
from streams.redact import display_servers, display_url, redact_urls

PASSWORD = "Hunter2-s3cret-pw"
WRONG = "Wrong-s3cret-pw"


@pytest.fixture(scope="module")
def secured_nats(servers_dir: Path) -> Iterator[devstack.Server]:
    server = devstack.nats_server(servers_dir / "secured")
    server.argv += ["--user", "alice", "--pass", PASSWORD]
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clusters(db: None, secured_nats: devstack.Server, kafka_bootstrap: str, dead_port: int) -> list[Cluster]:
    port, monitor = secured_nats.port, secured_nats.extra_ports["monitor"]
    host = kafka_bootstrap.split(",")[0]
    rows = [
        Cluster.objects.create(
            slug="secured",
            kind="nats",
            name="Secured",
            servers=f"nats://alice:{PASSWORD}@127.0.0.1:{port},nats://alice:{PASSWORD}@127.0.0.1:{port}",
            # A path the monitoring port does not serve: its 404 quotes the whole URL.
            monitor_url=f"http://alice:{PASSWORD}@127.0.0.1:{monitor}/no-such-prefix/",
        ),
        Cluster.objects.create(
            slug="wrongpw", kind="nats", name="Wrong", servers=f"nats://alice:{WRONG}@127.0.0.1:{port}"
        ),
        Cluster.objects.create(
            slug="secured-kafka", kind="kafka", name="Secured Kafka", servers=f"PLAINTEXT://bob:{PASSWORD}@{host}"
        ),
        Cluster.objects.create(
            slug="gone-kafka",
            kind="kafka",
            name="Gone",
            servers=f"SASL_SSL://bob:{PASSWORD}@127.0.0.1:{dead_port},bob:{PASSWORD}@127.0.0.1:{dead_port}",
        ),
    ]
    adapters.invalidate()
    return rows


def _clean(text: str) -> None:
    assert PASSWORD not in text and WRONG not in text and "alice:" not in text and "bob:" not in text


def test_display_helpers_strip_userinfo():
    assert display_url("nats://alice:pw@h:4222") == "nats://h:4222"
    assert display_url("SASL_SSL://u:p@h:9092") == "SASL_SSL://h:9092"
    assert display_url("u:p@h:9092") == "h:9092"
    assert display_url("nats://tok@h") == "nats://h"
    assert display_url("nats://u:p@ss@h") == "nats://h"  # a raw @ in the password
    assert display_url("nats://h:4222") == "nats://h:4222"
    assert display_servers(["nats://a:b@h1", "nats://h2"]) == ["nats://h1", "nats://h2"]
    assert redact_urls("x nats://a:b@h1:4222,nats://c:d@h2:4222 y") == "x nats://h1:4222,nats://h2:4222 y"
    assert redact_urls("for url 'http://u:p,w@h/varz'") == "for url 'http://h/varz'"
    assert redact_urls("sasl_ssl://[u:p@127.0.0.1:1]:9092/bootstrap") == "sasl_ssl://127.0.0.1:1]:9092/bootstrap"
    assert redact_urls("mail me@example.com at http://example.com") == "mail me@example.com at http://example.com"
    assert (
        BrokerUnavailable(f"NATS is unreachable (nats://alice:{PASSWORD}@h)").message
        == "NATS is unreachable (nats://h)"
    )


def test_pages_and_api_never_show_url_credentials(clusters, operator_client, caplog):
    caplog.set_level(logging.DEBUG)
    answers = {}
    for path in [
        "/clusters",
        "/api/v1/clusters?fresh=1",
        "/clusters/kind/nats",
        "/api/v1/clusters/kind/nats",
        "/clusters/kind/kafka",
        "/api/v1/clusters/kind/kafka",
        "/clusters/secured/server",
        "/api/v1/clusters/secured/server",
        "/clusters/secured/streams",
        "/api/v1/clusters/wrongpw/server",
        "/clusters/wrongpw/server",
        "/api/v1/clusters/secured-kafka/topics",
        "/clusters/secured-kafka/topics",
        "/api/v1/clusters/gone-kafka/topics",
    ]:
        response = operator_client.get(path)
        assert response.status_code in (200, 503), (path, response.status_code)
        answers[path] = response
        _clean(response.content.decode())
    # The credentials work (they reach the server), only their display is stripped.
    server = answers["/api/v1/clusters/secured/server"].json()
    assert server["version"] and "no-such-prefix/varz" in server["monitor_error"]
    assert "404" in server["monitor_error"] and "127.0.0.1" in server["monitor_error"]
    assert answers["/api/v1/clusters/secured-kafka/topics"].status_code == 200
    health = {c["slug"]: c for c in answers["/api/v1/clusters?fresh=1"].json()["clusters"]}
    assert health["secured"]["reachable"] and not health["wrongpw"]["reachable"]
    kinds = answers["/api/v1/clusters/kind/nats"].json()["clusters"]
    port = clusters[0].servers.rsplit(":", 1)[1]
    assert {"slug": "secured", "name": "Secured", "servers": [f"nats://127.0.0.1:{port}"] * 2} in kinds
    assert answers["/api/v1/clusters/gone-kafka/topics"].status_code == 503
    _clean(caplog.text)


def test_admin_list_change_and_view_only_pages(clusters, admin_client, django_user_model, client):
    row = clusters[0]
    for path in ["/admin/streams/cluster/", f"/admin/streams/cluster/{row.pk}/change/"]:
        response = admin_client.get(path)
        assert response.status_code == 200
        _clean(response.content.decode())
    assert b"nats://127.0.0.1:" in admin_client.get("/admin/streams/cluster/").content

    staff = django_user_model.objects.create_user("vera", password="x-view-only-1", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_cluster"))
    client.force_login(staff)
    view_only = client.get(f"/admin/streams/cluster/{row.pk}/change/")
    assert view_only.status_code == 200 and b"127.0.0.1" in view_only.content
    _clean(view_only.content.decode())


def test_admin_form_keeps_credentials_sent_back_unchanged(clusters, admin_client):
    from streams.admin import ClusterForm

    row = clusters[0]
    form = ClusterForm(instance=row)
    shown = form.initial["servers"]
    assert PASSWORD not in shown and PASSWORD not in form.initial["monitor_url"]
    data = {
        name: value
        for name, value in form.initial.items()
        if name not in ("id", "created_at", "updated_at") and value is not None
    }
    data["name"] = "Renamed"
    saved = ClusterForm(data, instance=row)
    assert saved.is_valid(), saved.errors
    saved.save()
    row.refresh_from_db()
    assert row.name == "Renamed" and PASSWORD in row.servers and PASSWORD in row.monitor_url
    replaced = ClusterForm({**data, "servers": "nats://127.0.0.1:4222"}, instance=row)
    assert replaced.is_valid(), replaced.errors
    replaced.save()
    row.refresh_from_db()
    assert row.servers == "nats://127.0.0.1:4222"


def test_audit_records_and_logs_hold_no_url_credentials(db, operator: User, caplog):
    url = f"nats://alice:{PASSWORD}@127.0.0.1:4222"

    async def fails() -> None:
        raise OSError(f"cannot reach {url}")

    with pytest.raises(OSError):
        async_to_sync(audit.perform)(operator, "nats.test", fails, target=url, params={"servers": [url], "n": 1})
    async_to_sync(audit.record)(operator, "nats.other", message=f"refused by {url}")
    rows = list(AuditEvent.objects.order_by("id").values("target", "params", "message"))
    assert len(rows) == 2
    _clean(repr(rows))
    assert rows[0]["params"] == {"servers": ["nats://127.0.0.1:4222"], "n": 1}
    assert rows[1]["message"] == "refused by nats://127.0.0.1:4222"

    # Every log line the console writes goes through the configured formatter.
    handler = next(h for h in logging.getLogger().handlers if type(h.formatter).__name__ == "RedactingFormatter")
    try:
        raise ConnectionError(f"lost {url}")
    except ConnectionError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "connect to %s failed", (url,), None)
        import sys

        record.exc_info = sys.exc_info()
    assert handler.formatter is not None
    line = handler.formatter.format(record)
    assert "connect to nats://127.0.0.1:4222 failed" in line and "ConnectionError: lost nats://127.0.0.1:4222" in line
    _clean(line)


def test_managed_consumer_errors_hold_no_url_credentials():
    from streams.workers.loop import ErrorNote

    note = ErrorNote(f"fetch failed: nats://alice:{PASSWORD}@127.0.0.1:4222 refused", None)
    assert note.message == "fetch failed: nats://127.0.0.1:4222 refused"


@pytest.mark.parametrize(
    "servers",
    [
        f"nats://alice:{PASSWORD}@127.0.0.1:notaport",
        f"ftp://alice:{PASSWORD}@127.0.0.1:4222",
        f"nats://alice:{PASSWORD[:6]},{PASSWORD[6:]}@127.0.0.1:4222",  # a comma splits the password
    ],
)
def test_refused_cluster_definitions_do_not_quote_credentials(servers):
    from streams.clusters import ClusterConfigError, _split, validate_monitor_url, validate_servers

    with pytest.raises(ClusterConfigError) as refused:
        validate_servers("nats", _split(servers), "NATS_URL")
    assert PASSWORD[:6] not in str(refused.value) and PASSWORD[6:] not in str(refused.value)
    with pytest.raises(ClusterConfigError) as monitor:
        validate_monitor_url(servers.replace("nats://", "gopher://"), "NATS_MONITOR_URL")
    assert PASSWORD[:6] not in str(monitor.value)
    with pytest.raises(ClusterConfigError) as kafka:
        validate_servers("kafka", (f"bob:{PASSWORD}@host:port",), "KAFKA_BOOTSTRAP_SERVERS")
    assert PASSWORD not in str(kafka.value)


@pytest.mark.parametrize("name", ["django.request", "django.channels.server", "streams.nats", "nats", "celery", "axes"])
def test_every_configured_log_handler_redacts(name):
    """Whatever logger a line goes to, every handler the settings installed formats it redacted."""
    from streams.redact import RedactingFormatter

    logger: logging.Logger | None = logging.getLogger(name)
    handlers: list[logging.Handler] = []
    while logger is not None:
        handlers += logger.handlers
        logger = logger.parent if logger.propagate else None
    ours = [h for h in handlers if "pytest" not in type(h).__module__ and not isinstance(h, logging.NullHandler)]
    assert ours and all(isinstance(h.formatter, RedactingFormatter) for h in ours), ours
