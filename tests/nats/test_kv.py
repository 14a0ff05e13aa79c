"""Key-Value buckets against the real server, checked with an independent nats-py client."""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import Any

import pytest
from django.test import Client
from nats.aio.client import Client as Nats

from streams.models import AuditEvent
from tests.nats import helpers as h
from tests.polling import wait_until


@pytest.fixture
def viewer_only(viewer) -> Client:
    other = Client()
    other.force_login(viewer)
    return other


def _bucket(unique: str) -> str:
    return unique.replace("-", "_")


@pytest.fixture
def bucket(url, unique) -> str:
    name = _bucket(unique)

    async def work(nc: Nats) -> None:
        js = nc.jetstream()
        kv = await js.create_key_value(bucket=name, history=10)
        await kv.put("plain", b"one")
        await kv.put("plain", b"two")
        await kv.put("a/b=c.d", b"\x00\xffbin")
        await kv.put("app.db.host", b"h1")
        await kv.put("app.db.port", b"5432")
        await kv.put("app.web", b"w")

    h.run(url, work)
    return name


def _kv_get(url: str, bucket: str, key: str) -> tuple[bytes | None, int]:
    async def work(nc: Nats) -> tuple[bytes | None, int]:
        kv = await nc.jetstream().key_value(bucket)
        entry = await kv.get(key)
        return entry.value, entry.revision or 0

    return h.run(url, work)


def test_buckets_list_create_and_delete(operator_client: Client, viewer_only: Client, url, unique):
    name = _bucket(unique)
    created = operator_client.post(
        "/api/v1/clusters/nats/kv",
        {"bucket": name, "history": 5, "ttl_s": 3600, "max_value_size": 1024, "storage": "memory", "replicas": 1},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    listed = viewer_only.get("/api/v1/clusters/nats/kv").json()["items"]
    mine = next(b for b in listed if b["bucket"] == name)
    assert (mine["history"], mine["ttl_s"], mine["max_value_size"], mine["storage"], mine["replicas"]) == (
        5,
        3600,
        1024,
        "memory",
        1,
    )

    async def independent(nc: Nats) -> bytes | None:
        kv = await nc.jetstream().key_value(name)
        await kv.put("k", b"v")
        return (await kv.get("k")).value

    assert h.run(url, independent) == b"v"
    refused = viewer_only.delete(f"/api/v1/clusters/nats/kv/{name}")
    assert refused.status_code == 403
    assert operator_client.delete(f"/api/v1/clusters/nats/kv/{name}").status_code == 200
    assert viewer_only.get(f"/api/v1/clusters/nats/kv/{name}/keys").status_code == 404
    assert AuditEvent.objects.filter(action="nats.kv.create", target=name).exists()
    assert AuditEvent.objects.filter(action="nats.kv.delete", target=name).exists()


def test_keys_page_and_filter(viewer_client: Client, bucket):
    base = f"/api/v1/clusters/nats/kv/{bucket}/keys"
    body = viewer_client.get(base).json()
    assert body["total"] == 5
    assert [i["key"] for i in body["items"]] == ["a/b=c.d", "app.db.host", "app.db.port", "app.web", "plain"]
    plain = body["items"][-1]
    assert plain["operation"] == "PUT" and plain["length"] == 3 and plain["revision"] == 2
    wild = viewer_client.get(base, {"q": "app.db.*"}).json()
    assert [i["key"] for i in wild["items"]] == ["app.db.host", "app.db.port"]
    deep = viewer_client.get(base, {"q": "app.>"}).json()
    assert deep["total"] == 3
    sub = viewer_client.get(base, {"q": "=c"}).json()
    assert [i["key"] for i in sub["items"]] == ["a/b=c.d"]
    second = viewer_client.get(base, {"page": 2, "page_size": 2}).json()
    assert [i["key"] for i in second["items"]] == ["app.db.port", "app.web"]
    page = viewer_client.get(f"/clusters/nats/kv/{bucket}/keys")
    assert page.status_code == 200 and "a/b=c.d" in page.content.decode()


def test_value_history_and_past_revision_of_a_key_with_slash_equals_and_dots(viewer_client: Client, bucket):
    key = "a/b=c.d"
    got = viewer_client.get(f"/api/v1/clusters/nats/kv/{bucket}/keys/{key}").json()
    assert got["key"] == key and got["operation"] == "PUT"
    assert got["value"]["text"] is None and got["value"]["base64"] == "AP9iaW4="
    history = viewer_client.get(f"/api/v1/clusters/nats/kv/{bucket}/keys/plain/history").json()["items"]
    assert [(i["revision"], i["value"]["text"]) for i in history] == [(1, "one"), (2, "two")]
    first = viewer_client.get(f"/api/v1/clusters/nats/kv/{bucket}/keys/plain", {"revision": 1}).json()
    assert first["value"]["text"] == "one"
    wrong = viewer_client.get(f"/api/v1/clusters/nats/kv/{bucket}/keys/plain", {"revision": 3})
    assert wrong.status_code == 404
    assert viewer_client.get(f"/api/v1/clusters/nats/kv/{bucket}/keys/nope").status_code == 404
    page = viewer_client.get(f"/clusters/nats/kv/{bucket}/keys/{key}/history")
    assert page.status_code == 200


def test_put_with_compare_and_set_delete_and_purge(operator_client: Client, viewer_only: Client, url, bucket):
    api = f"/api/v1/clusters/nats/kv/{bucket}/keys/plain"
    ok = operator_client.put(api, {"value": "three", "revision": 2}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["revision"] == 7
    assert _kv_get(url, bucket, "plain") == (b"three", 7)
    stale = operator_client.put(api, {"value": "four", "revision": 2}, content_type="application/json")
    assert stale.status_code == 409 and stale.json()["field"] == "revision"
    assert _kv_get(url, bucket, "plain") == (b"three", 7)
    binary = operator_client.put(
        f"/api/v1/clusters/nats/kv/{bucket}/keys/x/y=z.w", {"value": "AAEC", "encoding": "base64"}, "application/json"
    )
    assert binary.status_code == 200
    assert _kv_get(url, bucket, "x/y=z.w")[0] == b"\x00\x01\x02"
    assert viewer_only.put(api, {"value": "v"}, content_type="application/json").status_code == 403
    assert operator_client.delete(api).status_code == 200
    marked = operator_client.get(api).json()
    assert marked["operation"] == "DEL"
    assert operator_client.delete(api + "?purge=true").status_code == 200
    history = operator_client.get(api + "/history").json()["items"]
    assert [i["operation"] for i in history] == ["PURGE"]
    assert AuditEvent.objects.filter(action="nats.kv.put", target=f"{bucket}/plain").count() >= 1


def test_read_only_mode_refuses_writes(operator_client: Client, settings, bucket):
    settings.READ_ONLY = True
    api = f"/api/v1/clusters/nats/kv/{bucket}/keys/plain"
    assert operator_client.put(api, {"value": "x"}, content_type="application/json").status_code == 403


def _measured(
    client: Client, path: str, params: dict[str, Any], *, trace: bool = True
) -> tuple[dict[str, Any], float, int]:
    """The answer, the seconds it took, and the peak of Python memory allocated while asking again
    (traced apart: tracing slows every allocation down)."""
    started = time.monotonic()
    body = client.get(path, params).json()
    elapsed = time.monotonic() - started
    if not trace:
        return body, elapsed, 0
    tracemalloc.start()
    again = client.get(path, params).json()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert again == body
    return body, elapsed, peak


def test_100k_keys_page_without_listing_them_all(viewer_client: Client, url, unique):
    """Past the server's 100,000 subjects per answer, so that its paging is used too."""
    name = _bucket(unique)
    count = 100_010

    async def work(nc: Nats) -> None:
        js = nc.jetstream()
        await js.create_key_value(bucket=name, history=1)
        for start in range(0, count, 5000):
            for i in range(start, min(start + 5000, count)):
                await nc.publish(f"$KV.{name}.k.{i:06d}", b"v")
            await nc.flush()

    async def drop(nc: Nats) -> None:
        await nc.jetstream().delete_key_value(name)

    h.run(url, work)
    # Dropped afterwards: 100,000 subjects would use up the subjects listing's budget of other tests.
    try:
        base = f"/api/v1/clusters/nats/kv/{name}/keys"
        wait_until(
            lambda: viewer_client.get(base, {"page_size": 1}).json()["total"] >= count,
            timeout=30,
            interval=0.2,
            message=f"{count} keys listed",
        )
        first, first_s, first_peak = _measured(viewer_client, base, {"page": 1, "page_size": 100})
        late, late_s, late_peak = _measured(viewer_client, base, {"page": 1000, "page_size": 100})
        last, _, _ = _measured(viewer_client, base, {"page": 1001, "page_size": 100})
        # A substring is looked for in every name (an answer of 100,000 at a time): timed, not traced.
        found, found_s, _ = _measured(viewer_client, base, {"q": "k.1000", "page_size": 100}, trace=False)
        pattern, _, _ = _measured(viewer_client, base, {"q": "k.*", "page": 1001, "page_size": 100})
        figures = {
            "keys": count,
            "page_1_s": round(first_s, 3),
            "page_1_peak_mb": round(first_peak / 2**20, 2),
            "page_1000_s": round(late_s, 3),
            "page_1000_peak_mb": round(late_peak / 2**20, 2),
            "substring_s": round(found_s, 3),
        }
        print(json.dumps(figures))
        assert first["total"] == late["total"] == count
        assert [i["key"] for i in first["items"]][:2] == ["k.000000", "k.000001"] and len(first["items"]) == 100
        assert [i["key"] for i in late["items"]][:2] == ["k.099900", "k.099901"]
        # The last keys sit past the server's first answer of 100,000 subjects.
        assert [i["key"] for i in last["items"]] == [f"k.{i:06d}" for i in range(100_000, count)]
        assert [i["key"] for i in pattern["items"]] == [f"k.{i:06d}" for i in range(100_000, count)]
        assert found["total"] == 10 and found["items"][0]["key"] == "k.100000"
        # Names are read off the server's answer one at a time: no page holds them all as objects.
        assert first_peak < 12 * 2**20 and late_peak < 4 * 2**20
    finally:
        h.run(url, drop)


def test_page_put_form_names_the_key(operator_client: Client, url, bucket):
    response = operator_client.post(f"/clusters/nats/kv/{bucket}/put", {"key": "new/k=v.1", "value": "paged"})
    assert response.status_code == 302
    assert _kv_get(url, bucket, "new/k=v.1")[0] == b"paged"
    page = operator_client.get(f"/clusters/nats/kv/{bucket}/keys/new/k=v.1")
    assert page.status_code == 200 and "paged" in page.content.decode()
