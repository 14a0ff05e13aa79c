"""Server overview, connections and subjects, with and without the monitoring port."""

from __future__ import annotations

from urllib.parse import urlparse

from django.test import override_settings

from dev import devstack
from streams.nats import adapter as nats_broker
from tests.nats import helpers as h
from tests.polling import wait_until

# Shared fixtures: pytest finds fixtures among a module's names.


def test_server_api_has_the_contract_fields(viewer_client, url, unique):
    with h.Subscriber(url, f"{unique}.ping"):
        body = viewer_client.get("/api/v1/clusters/nats/server").json()
    assert body["version"].startswith("2.")
    assert body["jetstream"] is True
    for name in ("connections", "subscriptions", "in_msgs", "out_msgs", "in_bytes", "out_bytes"):
        assert isinstance(body[name], int), name
    assert body["connections"] >= 2  # the console and the subscriber
    assert body["monitoring"] is True and body["monitor_error"] is None
    account = body["account"]
    assert account["streams"] >= 0 and account["max_storage"] > 0 and account["max_memory"] > 0
    assert body["jetstream_server"]["max_storage"] > 0


def test_server_page(viewer_client):
    page = viewer_client.get("/clusters/nats/server")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'aria-current="page">Server' in html and "JetStream account usage" in html
    assert "Monitoring is not configured" not in html
    assert 'aria-current="page">NATS' in html  # the main navigation marks NATS


def test_nats_landing_redirects_to_the_server_page(viewer_client):
    response = viewer_client.get("/nats")
    assert response.status_code == 302 and response["Location"] == "/clusters/nats/server"


@override_settings(NATS_MONITOR_URL="")
def test_without_monitoring_the_pages_say_so(viewer_client, url, unique):
    h.create_own_stream(url, unique)
    h.publish(url, [(f"{unique}.kept", b"x", None)])
    body = viewer_client.get("/api/v1/clusters/nats/server").json()
    assert body["monitoring"] is False
    assert body["version"].startswith("2.") and body["jetstream"] is True
    assert body["connections"] is None and body["in_msgs"] is None
    assert body["account"]["streams"] >= 1  # from the JetStream API, not monitoring
    for path in ("/clusters/nats/server", "/clusters/nats/connections", "/clusters/nats/subjects"):
        page = viewer_client.get(path)
        assert page.status_code == 200, path
        assert "Monitoring is not configured for this cluster" in page.content.decode(), path
    connections = viewer_client.get("/api/v1/clusters/nats/connections").json()
    assert connections["monitoring"] is False and connections["items"] == []
    subjects = viewer_client.get("/api/v1/clusters/nats/subjects", {"q": unique}).json()
    assert subjects["monitoring"] is False
    assert [(i["subject"], i["source"]) for i in subjects["items"]] == [(f"{unique}.kept", "stream")]


def test_connections_list_a_named_client(viewer_client, url, unique):
    viewer_client.get("/api/v1/clusters/nats/server")  # the console's own connection is up
    with h.Subscriber(url, f"{unique}.x"):
        body = viewer_client.get("/api/v1/clusters/nats/connections", {"sort": "subs"}).json()
    names = [c["name"] for c in body["items"]]
    assert "test-subscriber" in names and "streamdesk" in names
    row = body["items"][names.index("test-subscriber")]
    assert row["subscriptions"] >= 1 and row["address"].startswith("127.0.0.1:")
    assert row["pending_bytes"] == 0 and row["slow"] is False
    bad = viewer_client.get("/api/v1/clusters/nats/connections", {"sort": "mood"})
    assert bad.status_code == 400 and bad.json()["field"] == "sort"


def test_a_client_that_stopped_reading_stands_out(viewer_client, url, unique):
    port = urlparse(url).port
    assert port is not None
    viewer_client.get("/api/v1/clusters/nats/server")
    chunk = b"z" * 64 * 1024
    with h.StuckClient(port, f"stuck-{unique}", f"{unique}.flood"):

        async def flood(nc) -> None:
            for _ in range(160):  # 10 MiB, more than the sockets buffer
                await nc.publish(f"{unique}.flood", chunk)
            await nc.flush()

        h.run(url, flood)
        first = wait_until(
            lambda: viewer_client.get("/api/v1/clusters/nats/connections", {"sort": "pending"}).json()["items"][0],
            until=lambda first: first["pending_bytes"] > 0,
            timeout=10,
            interval=0.2,
            message="a connection with bytes pending",
        )
        assert first["name"] == f"stuck-{unique}"
        assert first["pending_bytes"] > 0 and first["level"] in ("warn", "down")
        page = viewer_client.get("/clusters/nats/connections").content.decode()
    assert page.index(f"stuck-{unique}") < page.index(">streamdesk<")


def test_subjects_from_subscriptions_and_streams(viewer_client, url, unique):
    name = h.create_own_stream(url, unique, [f"{unique}.stored.>"])
    h.publish(url, [(f"{unique}.stored.one", b"1", None), (f"{unique}.stored.one", b"2", None)])
    with h.Subscriber(url, f"{unique}.live.*", queue="workers", publish=3):
        body = viewer_client.get("/api/v1/clusters/nats/subjects", {"q": unique}).json()
        html = viewer_client.get("/clusters/nats/subjects", {"q": unique}).content.decode()
    rows = {(i["subject"], i["source"]): i for i in body["items"]}
    live = rows[(f"{unique}.live.*", "subscription")]
    assert live["count"] == 3 and live["subscribers"] == 1 and live["queue_groups"] == ["workers"]
    stored = rows[(f"{unique}.stored.one", "stream")]
    assert stored["count"] == 2 and stored["stream"] == name
    # JetStream's own interest in the stream's subjects is a subscription too
    assert (f"{unique}.stored.>", "subscription") in rows
    assert 'data-source="stream"' in html and 'data-source="subscription"' in html


def test_subject_search_by_pattern_and_source(viewer_client, url, unique):
    h.create_own_stream(url, unique)
    h.publish(
        url, [(f"{unique}.orders.eu", b"1", None), (f"{unique}.orders.us", b"1", None), (f"{unique}.users", b"1", None)]
    )
    body = viewer_client.get("/api/v1/clusters/nats/subjects", {"q": f"{unique}.orders.*", "source": "stream"}).json()
    assert sorted(i["subject"] for i in body["items"]) == [f"{unique}.orders.eu", f"{unique}.orders.us"]
    literal = viewer_client.get("/api/v1/clusters/nats/subjects", {"q": f"{unique}.users"}).json()
    sources = {(i["subject"], i["source"]) for i in literal["items"]}
    assert (f"{unique}.users", "stream") in sources
    assert (f"{unique}.>", "subscription") in sources  # the stream's wildcard interest receives it
    bad = viewer_client.get("/api/v1/clusters/nats/subjects", {"q": "a.>.b"})
    assert bad.status_code == 400 and bad.json()["field"] == "q"
    partial = viewer_client.get("/clusters/nats/subjects", {"q": unique}, headers={"HX-Request": "true"})
    assert b"<html" not in partial.content and unique.encode() in partial.content


def test_stored_subjects_are_capped_per_stream_and_in_all(viewer_client, url, unique, monkeypatch):
    first, second = h.stream_name(unique) + "_1", h.stream_name(unique) + "_2"
    h.create_stream(url, first, [f"{unique}.one.>"])
    h.create_stream(url, second, [f"{unique}.two.>"])
    items: list[tuple[str, bytes, dict[str, str] | None]] = [
        (f"{unique}.one.{s}", b"1", None) for s in ("a", "a", "a", "b", "b", "c")
    ]
    items += [(f"{unique}.two.{s}", b"1", None) for s in ("x", "x", "y")]
    h.publish(url, items)
    query = {"q": f"{unique}.>", "source": "stream"}
    whole = viewer_client.get("/api/v1/clusters/nats/subjects", query).json()
    assert whole["total"] == 5 and whole["truncated"] is False
    monkeypatch.setattr(nats_broker, "SUBJECTS_PER_STREAM", 2)
    monkeypatch.setattr(nats_broker, "SUBJECTS_TOTAL", 3)
    capped = viewer_client.get("/api/v1/clusters/nats/subjects", query).json()
    assert capped["truncated"] is True
    assert {(i["stream"], i["subject"]) for i in capped["items"]} == {
        (first, f"{unique}.one.a"),
        (first, f"{unique}.one.b"),
        (second, f"{unique}.two.x"),
    }
    page = viewer_client.get("/clusters/nats/subjects", query).content.decode()
    assert 'data-truncated="stored"' in page and "the busiest 2 per stream and 3 in all" in page


def test_internal_subscriptions_are_hidden_unless_asked(viewer_client):
    hidden = viewer_client.get("/api/v1/clusters/nats/subjects", {"source": "subscription"}).json()
    assert hidden["hidden_internal"] > 0
    assert not any(i["subject"].startswith(("$SYS.", "_INBOX.")) for i in hidden["items"])
    shown = viewer_client.get("/api/v1/clusters/nats/subjects", {"source": "subscription", "internal": "1"}).json()
    assert any(i["subject"].startswith("$") for i in shown["items"])


def test_server_without_jetstream(viewer_client, tmp_path):
    server = devstack.nats_server(tmp_path)
    server.argv = [arg for arg in server.argv if arg != "-js"]
    server.start()
    try:
        env = {
            "NATS_URL": f"nats://127.0.0.1:{server.port}",
            "NATS_MONITOR_URL": f"http://127.0.0.1:{server.extra_ports['monitor']}",
        }
        with override_settings(**env):
            body = viewer_client.get("/api/v1/clusters/nats/server").json()
            assert body["jetstream"] is False and body["account"] is None
            assert "JetStream is not enabled" in viewer_client.get("/clusters/nats/server").content.decode()
            streams = viewer_client.get("/api/v1/clusters/nats/streams")
            assert streams.status_code == 501 and "JetStream is not enabled" in streams.json()["error"]
            subjects = viewer_client.get("/api/v1/clusters/nats/subjects").json()
            assert subjects["jetstream"] is False
    finally:
        server.stop()
