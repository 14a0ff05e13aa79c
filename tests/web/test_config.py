"""Configuration from the environment, the clusters file and the admin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from streams import adapters
from streams.clusters import ClusterConfigError, from_file, static_clusters
from streams.models import Cluster

ROOT = Path(__file__).resolve().parents[2]


def run_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "NATS_URL", "DATABASE_URL"}}
    clean.update({"STREAMDESK_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "console.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "no-port-here"}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({"NATS_URL": "http://wrong-scheme:4222"}, "NATS_URL"),
        ({"NATS_URL": "nats://ok:4222", "NATS_MONITOR_URL": "ftp://x"}, "NATS_MONITOR_URL"),
        ({"REDIS_URL": "memcached://x"}, "REDIS_URL"),
        ({"STREAMDESK_BROKER_TIMEOUT": "soon"}, "STREAMDESK_BROKER_TIMEOUT"),
        ({"DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL"),
        ({"STREAMDESK_CLUSTERS": "/does/not/exist.toml"}, "STREAMDESK_CLUSTERS"),
        ({"SECRET_KEY_FILE": "/does/not/exist"}, "SECRET_KEY_FILE"),
    ],
)
def test_bad_config_fails_start_up_naming_the_variable(tmp_path, env, named):
    result = run_check(tmp_path, **env)
    assert result.returncode != 0
    assert named in result.stderr
    assert "streamdesk.E00" in result.stderr


def test_good_config_passes_and_secret_key_is_generated_once(tmp_path):
    first = run_check(tmp_path, KAFKA_BOOTSTRAP_SERVERS="localhost:9092", NATS_URL="nats://localhost:4222")
    assert first.returncode == 0, first.stderr
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 40 and oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
    run_check(tmp_path)
    assert (tmp_path / "secret_key").read_text() == key


def test_clusters_file_toml(tmp_path, settings):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    path = tmp_path / "clusters.toml"
    path.write_text(
        f"""
[[clusters]]
slug = "prod-kafka"
kind = "kafka"
name = "Production Kafka"
servers = ["k1:9092", "k2:9092"]
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
username = "console"
password_file = "{secret}"

[[clusters]]
slug = "edge"
kind = "nats"
servers = "nats://edge:4222"
monitor_url = "http://edge:8222"
token = "tok"
"""
    )
    found = {c.slug: c for c in from_file(str(path))}
    assert found["prod-kafka"].servers == ("k1:9092", "k2:9092")
    assert found["prod-kafka"].password == "s3cret"
    assert found["prod-kafka"].public()["password"] == "••••••"
    assert "s3cret" not in repr(found["prod-kafka"])
    assert found["edge"].monitor_url == "http://edge:8222" and found["edge"].name == "edge"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[[clusters]]\nslug = "x"\nkind = "redis"\nservers = "a:1"', "kind must be kafka or nats"),
        ('[[clusters]]\nslug = "Bad Slug"\nkind = "kafka"\nservers = "a:1"', "slug"),
        ('[[clusters]]\nslug = "x"\nkind = "kafka"\nservers = "a:1"\ncolour = "red"', "unknown keys"),
        ("clusters = 3", "list of tables"),
        ("[[clusters", "not valid"),
    ],
)
def test_clusters_file_errors_are_specific(tmp_path, content, message):
    path = tmp_path / "clusters.toml"
    path.write_text(content)
    with pytest.raises(ClusterConfigError, match=message):
        from_file(str(path))


def test_clusters_file_json_may_not_redefine_an_env_slug(tmp_path):
    path = tmp_path / "clusters.json"
    path.write_text('{"clusters": [{"slug": "kafka", "kind": "kafka", "servers": "elsewhere:1"}]}')
    with override_settings(STREAMDESK_CLUSTERS=str(path)), pytest.raises(ClusterConfigError, match="defined twice"):
        static_clusters()


def test_env_and_file_win_over_an_admin_row_with_the_same_slug(db, kafka_bootstrap):
    Cluster.objects.create(slug="kafka", kind="kafka", name="Shadow", servers="elsewhere:1")
    kafka = [c for c in adapters.clusters() if c.slug == "kafka"]
    assert len(kafka) == 1 and kafka[0].servers == (kafka_bootstrap,)


def test_admin_cluster_is_served_by_the_registry(viewer_client, kafka_bootstrap):
    Cluster.objects.create(slug="second", kind="kafka", name="Second Kafka", servers=kafka_bootstrap)
    Cluster.objects.create(slug="off", kind="nats", name="Disabled", servers="nats://x:1", enabled=False)
    clusters = {c["slug"]: c for c in viewer_client.get("/api/v1/clusters").json()["clusters"]}
    assert clusters["second"]["reachable"] is True
    assert "off" not in clusters


def test_admin_never_renders_secrets_back(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="root-pass-123")
    client.force_login(admin)
    cluster = Cluster.objects.create(
        slug="sasl", kind="kafka", name="SASL", servers="k:9092", username="u", password="hunter2-secret"
    )
    page = client.get(f"/admin/streams/cluster/{cluster.pk}/change/")
    assert page.status_code == 200
    assert b"hunter2-secret" not in page.content
    # saving the form with the password left empty keeps the stored one
    form = {
        "slug": "sasl",
        "kind": "kafka",
        "name": "SASL renamed",
        "enabled": "on",
        "servers": "k:9092",
        "monitor_url": "",
        "security_protocol": "",
        "sasl_mechanism": "",
        "username": "u",
        "password": "",
        "token": "",
        "nkey_seed": "",
        "creds_file": "",
        "tls_ca_file": "",
        "tls_cert_file": "",
        "tls_key_file": "",
    }
    response = client.post(f"/admin/streams/cluster/{cluster.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    cluster.refresh_from_db()
    assert cluster.name == "SASL renamed" and cluster.password == "hunter2-secret"


def test_admin_rejects_malformed_servers(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="root-pass-123")
    client.force_login(admin)
    response = client.post(
        "/admin/streams/cluster/add/",
        {"slug": "bad", "kind": "nats", "name": "Bad", "servers": "http://nope", "enabled": "on"},
    )
    assert response.status_code == 200 and b"is not a nats:// URL" in response.content
    assert not Cluster.objects.filter(slug="bad").exists()


def test_healthz_is_public_and_checks_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": True}


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "0", "console.asgi:application"],
        [sys.executable, "-m", "celery", "-A", "console", "worker", "--pool", "solo", "-l", "INFO"],
        [sys.executable, "-m", "celery", "-A", "console", "beat", "-l", "INFO"],
        [sys.executable, "manage.py", "runconsumers"],
    ],
    ids=["daphne", "celery-worker", "celery-beat", "runconsumers"],
)
def test_every_process_refuses_a_malformed_setting_at_start(tmp_path, command):
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "NATS_URL", "DATABASE_URL"}}
    env.update({"STREAMDESK_VAR_DIR": str(tmp_path), "STREAMDESK_READ_ONLY": "enabled"})
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{command[2]} kept running with STREAMDESK_READ_ONLY=enabled") from exc
    assert result.returncode != 0
    assert "STREAMDESK_READ_ONLY" in result.stderr and "'enabled'" in result.stderr


def test_the_web_process_freezes_its_start_up_objects(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"KAFKA_BOOTSTRAP_SERVERS", "NATS_URL", "DATABASE_URL"}}
    env["STREAMDESK_VAR_DIR"] = str(tmp_path)
    probe = "import gc, console.asgi; print(gc.get_freeze_count(), gc.get_threshold()[2])"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    frozen, full_pass_every = map(int, result.stdout.split())
    # Django, every view module and the clients' libraries, left out of full collections.
    assert frozen > 50_000 and full_pass_every == 100
