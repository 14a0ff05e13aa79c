"""Key-Value, Object Store and services as a whole: every page has its JSON twin, names holding
``/``, ``=`` and dots route through each, and every write is refused to viewers and in
read-only mode (audited as refused), with the broker left as it was."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from nats.aio.client import Client as Nats

from streams.models import AuditEvent
from tests.nats import helpers as h

KEY = "dir/a=b.c"
OBJECT = "dir/x=y.z.bin"


@pytest.fixture
def names(url, unique) -> tuple[str, str]:
    """A KV bucket holding KEY and an object store holding OBJECT."""
    kv_bucket, obj_bucket = f"kv_{unique}".replace("-", "_"), f"obj_{unique}".replace("-", "_")

    async def work(nc: Nats) -> None:
        js = nc.jetstream()
        kv = await js.create_key_value(bucket=kv_bucket, history=3, storage="memory")
        await kv.put(KEY, b"first")
        await kv.put(KEY, b"second")
        store = await js.create_object_store(obj_bucket)
        await store.put(OBJECT, b"object bytes")

    h.run(url, work)
    return kv_bucket, obj_bucket


def _pages(kv_bucket: str, obj_bucket: str) -> list[str]:
    return [
        "clusters/nats/kv",
        f"clusters/nats/kv/{kv_bucket}/keys",
        f"clusters/nats/kv/{kv_bucket}/keys/{KEY}",
        f"clusters/nats/kv/{kv_bucket}/keys/{KEY}/history",
        f"clusters/nats/kv/{kv_bucket}/live",
        "clusters/nats/objects",
        f"clusters/nats/objects/{obj_bucket}",
        "clusters/nats/services",
    ]


def test_every_page_has_its_json_twin(viewer_client: Client, names):
    kv_bucket, obj_bucket = names
    for page in _pages(kv_bucket, obj_bucket):
        html = viewer_client.get(f"/{page}")
        assert html.status_code == 200, page
        assert html["Content-Type"].startswith("text/html"), page
        twin = viewer_client.get(f"/api/v1/{page}")
        assert twin.status_code == 200, (page, twin.content[:200])
        assert twin["Content-Type"].startswith("application/json"), page
        assert isinstance(twin.json(), dict)
    key = viewer_client.get(f"/api/v1/clusters/nats/kv/{kv_bucket}/keys/{KEY}").json()
    assert key["key"] == KEY and key["value"]["text"] == "second" and key["revision"] == 2
    history = viewer_client.get(f"/api/v1/clusters/nats/kv/{kv_bucket}/keys/{KEY}/history").json()
    assert [i["value"]["text"] for i in history["items"]] == ["first", "second"]
    listed = viewer_client.get(f"/api/v1/clusters/nats/objects/{obj_bucket}").json()["items"]
    assert [o["name"] for o in listed] == [OBJECT]
    got = viewer_client.get(f"/api/v1/clusters/nats/objects/{obj_bucket}/{OBJECT}/download")
    assert got.status_code == 200 and got["Content-Length"] == "12"
    # Unknown names are 404 in JSON under /api/, never an HTML page.
    for missing in (f"kv/{kv_bucket}/keys/{KEY}.nope", f"objects/{obj_bucket}/{OBJECT}.nope/download"):
        answer = viewer_client.get(f"/api/v1/clusters/nats/{missing}")
        assert answer.status_code == 404 and answer["Content-Type"].startswith("application/json"), missing


def _writes(kv_bucket: str, obj_bucket: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body) of every write, through the API and through the page forms."""
    return [
        ("post", "/api/v1/clusters/nats/kv", {"bucket": "refused_bucket"}),
        ("delete", f"/api/v1/clusters/nats/kv/{kv_bucket}", {}),
        ("put", f"/api/v1/clusters/nats/kv/{kv_bucket}/keys/{KEY}", {"value": "changed"}),
        ("delete", f"/api/v1/clusters/nats/kv/{kv_bucket}/keys/{KEY}", {}),
        ("form", "/clusters/nats/kv/create", {"bucket": "refused_bucket"}),
        ("form", f"/clusters/nats/kv/{kv_bucket}/delete", {"confirm": kv_bucket}),
        ("form", f"/clusters/nats/kv/{kv_bucket}/put", {"key": KEY, "value": "changed"}),
        ("form", f"/clusters/nats/kv/{kv_bucket}/keys/{KEY}/put", {"value": "changed"}),
        ("form", f"/clusters/nats/kv/{kv_bucket}/keys/{KEY}/delete", {"purge": "true"}),
        ("post", "/api/v1/clusters/nats/objects", {"bucket": "refused_bucket"}),
        ("delete", f"/api/v1/clusters/nats/objects/{obj_bucket}", {}),
        ("upload", f"/api/v1/clusters/nats/objects/{obj_bucket}", {"name": OBJECT}),
        ("delete", f"/api/v1/clusters/nats/objects/{obj_bucket}/{OBJECT}", {}),
        ("form", "/clusters/nats/objects/create", {"bucket": "refused_bucket"}),
        ("upload", f"/clusters/nats/objects/{obj_bucket}/upload", {"name": OBJECT}),
        ("form", f"/clusters/nats/objects/{obj_bucket}/{OBJECT}/delete", {}),
        ("form", f"/clusters/nats/objects/{obj_bucket}/delete", {"confirm": obj_bucket}),
        ("post", "/api/v1/clusters/nats/services", {"subject": "refused.request"}),
        ("form", "/clusters/nats/services", {"subject": "refused.request"}),
    ]


def _send(client: Client, method: str, path: str, body: dict[str, Any]) -> int:
    if method == "form":
        return client.post(path, body).status_code
    if method == "upload":
        upload = io.BytesIO(b"replaced")
        upload.name = "x.bin"
        return client.post(path, {**body, "file": upload}).status_code
    return getattr(client, method)(path, body, content_type="application/json").status_code


def _untouched(url: str, kv_bucket: str, obj_bucket: str) -> None:
    async def work(nc: Nats) -> None:
        js = nc.jetstream()
        assert (await (await js.key_value(kv_bucket)).get(KEY)).value == b"second"
        store = await js.object_store(obj_bucket)
        assert (await store.get(OBJECT)).data == b"object bytes"
        names = [s.config.name for s in await js.streams_info()]
        assert "KV_refused_bucket" not in names and "OBJ_refused_bucket" not in names

    h.run(url, work)


def test_writes_are_refused_to_viewers(viewer_client: Client, url, names):
    kv_bucket, obj_bucket = names
    writes = _writes(kv_bucket, obj_bucket)
    for method, path, body in writes:
        assert _send(viewer_client, method, path, body) == 403, (method, path)
    _untouched(url, kv_bucket, obj_bucket)
    assert AuditEvent.objects.filter(username="victor", result="denied").count() == len(writes)


def test_writes_are_refused_in_read_only_mode(operator_client: Client, settings, url, names):
    kv_bucket, obj_bucket = names
    settings.READ_ONLY = True
    for method, path, body in _writes(kv_bucket, obj_bucket):
        assert _send(operator_client, method, path, body) == 403, (method, path)
    _untouched(url, kv_bucket, obj_bucket)
