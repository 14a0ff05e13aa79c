"""Where lag alerts go: a cluster's webhook from the clusters file (a secret) or the admin, else the default."""

from __future__ import annotations

import pytest

from streams.clusters import ClusterConfigError, from_file, from_model
from streams.lag.alerts import webhook_url
from streams.models import Cluster


def test_webhook_from_the_clusters_file_is_a_secret(tmp_path):
    secret = tmp_path / "hook"
    secret.write_text("https://chat.example/hooks/T0K3N\n")
    path = tmp_path / "clusters.toml"
    path.write_text(
        f'[[clusters]]\nslug = "a"\nkind = "kafka"\nservers = "k:9092"\nalert_webhook_url_file = "{secret}"\n'
        '[[clusters]]\nslug = "b"\nkind = "kafka"\nservers = "k:9092"\nalert_webhook_url = "http://hooks.local/x"\n'
    )
    found = {c.slug: c for c in from_file(str(path))}
    assert found["a"].alert_webhook_url == "https://chat.example/hooks/T0K3N"
    assert "T0K3N" not in repr(found["a"]) and found["a"].public()["alert_webhook_url"] == "••••••"
    assert found["b"].alert_webhook_url == "http://hooks.local/x"


def test_a_webhook_must_be_http(tmp_path):
    path = tmp_path / "clusters.toml"
    path.write_text('[[clusters]]\nslug = "a"\nkind = "kafka"\nservers = "k:9092"\nalert_webhook_url = "ftp://x/y"\n')
    with pytest.raises(ClusterConfigError, match="alert_webhook_url"):
        from_file(str(path))


def test_the_default_webhook_serves_clusters_without_one(settings):
    settings.LAG_WEBHOOK_URL = "http://default.local/hook"
    own = from_model(Cluster(slug="a", kind="kafka", name="A", servers="k:1", alert_webhook_url="http://own.local/"))
    plain = from_model(Cluster(slug="b", kind="kafka", name="B", servers="k:1"))
    assert webhook_url(own) == "http://own.local/" and webhook_url(plain) == "http://default.local/hook"
