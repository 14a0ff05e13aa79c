"""A Kafka cluster's Schema Registry, from the clusters file and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.clusters import ClusterConfigError, from_env, from_file


def test_clusters_file_names_a_registry(tmp_path: Path) -> None:
    path = tmp_path / "clusters.toml"
    path.write_text(
        '[[clusters]]\nslug = "k"\nkind = "kafka"\nservers = "h:9092"\n'
        'schema_registry = {url = "https://sr.example:8081", username = "u", password = "p"}\n'
    )
    (cluster,) = from_file(str(path))
    assert cluster.schema_registry_url == "https://sr.example:8081"
    assert (cluster.schema_registry_username, cluster.schema_registry_password) == ("u", "p")
    assert cluster.public()["schema_registry_password"] == "••••••"
    assert "schema_registry_password='p'" not in repr(cluster)


def test_a_registry_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clusters.toml"
    path.write_text(
        '[[clusters]]\nslug = "k"\nkind = "kafka"\nservers = "h:9092"\nschema_registry = {url = "ftp://x"}\n'
    )
    with pytest.raises(ClusterConfigError, match="schema registry URL"):
        from_file(str(path))
    path.write_text('[[clusters]]\nslug = "k"\nkind = "kafka"\nservers = "h:9092"\nschema_registry = {uri = "x"}\n')
    with pytest.raises(ClusterConfigError, match="unknown keys"):
        from_file(str(path))


def test_default_cluster_registry_from_the_environment(settings: object) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = "h:9092"  # type: ignore[attr-defined]
    settings.NATS_URL = ""  # type: ignore[attr-defined]
    settings.KAFKA_SCHEMA_REGISTRY_URL = "http://sr:8081"  # type: ignore[attr-defined]
    settings.KAFKA_SCHEMA_REGISTRY_USERNAME = "u"  # type: ignore[attr-defined]
    (cluster,) = from_env()
    assert cluster.schema_registry_url == "http://sr:8081"
    assert cluster.schema_registry_username == "u"
