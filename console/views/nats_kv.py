"""NATS Key-Value pages and their JSON twins: buckets, keys, a key's value and history, and the writes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import URLPattern, reverse

from console.access import audit_unmasked, read_mask
from console.apitypes import nats_stores as api
from console.apitypes.common import Deleted
from console.openapi import described
from console.params import bool_param, choice_param, float_param, int_param, page_params, str_param
from console.resources import KV_BUCKET, KV_LIST, KV_VALUES
from console.views.nats.common import KIND, tab
from console.web import Ctx, Result, action, endpoint, require_confirmation, writes
from streams.errors import InvalidInput
from streams.nats import kv
from streams.policies import KV_BUCKETS
from streams.publish.message import ENCODINGS, encode

C = "clusters/<slug:cluster>"
B = f"{C}/kv/<str:bucket>"
STORAGES = ("file", "memory")


@described(answers={200: api.Buckets})
async def buckets_data(ctx: Ctx) -> Result:
    found = ctx.visible(KV_BUCKETS, await kv.kv(ctx.config).buckets(), lambda b: b.bucket)
    return Result({"items": [b.as_api() for b in found]}, page={"buckets": found})


@described(body=api.BucketCreate, answers={201: api.BucketCreated}, errors=[409])
@writes(kv.KV_CREATE, needs="edit")
async def bucket_create(ctx: Ctx) -> Result:
    body = ctx.body()
    bucket = str_param(body, "bucket", max_length=200).strip()
    if not bucket:
        raise InvalidInput("Give the bucket a name.", field="bucket")
    options = {
        "history": int_param(body, "history", 1, minimum=1, maximum=64),
        "ttl_s": float_param(body, "ttl_s", 0.0, minimum=0.0, maximum=100 * 365 * 86400.0),
        "max_value_size": int_param(body, "max_value_size", -1, minimum=-1, maximum=2**31),
        "storage": choice_param(body, "storage", STORAGES, "file"),
        "replicas": int_param(body, "replicas", 1, minimum=1, maximum=5),
    }
    created = await kv.do_create_bucket(ctx.user, ctx.config, bucket, **options)
    return Result({**created.as_api(), "message": f"Bucket {bucket} created."}, status=201)


@described(answers={200: Deleted})
@writes(kv.KV_DELETE, needs="delete")
async def bucket_delete(ctx: Ctx) -> dict[str, Any]:
    bucket = ctx.args["bucket"]
    require_confirmation(ctx, bucket, what="deleting the bucket")
    await kv.do_delete_bucket(ctx.user, ctx.config, bucket)
    return {"deleted": bucket, "message": f"Bucket {bucket} deleted."}


@described(query=api.KeysQuery, answers={200: api.Keys})
async def keys_data(ctx: Ctx) -> Result:
    bucket = ctx.args["bucket"]
    q = str_param(ctx.query, "q", max_length=1024).strip()
    page, size = page_params(ctx.query, default_size=50, max_size=500)
    store = kv.kv(ctx.config)
    info = await store.bucket(bucket)
    found, total = await store.keys(bucket, q, page, size)
    data = {
        "bucket": bucket,
        "items": [e.as_api(with_value=False) for e in found],
        "total": total,
        "page": page,
        "page_size": size,
        "q": q,
    }
    watch = {"from": "beginning"} | ({"keys": q} if "*" in q or ">" in q else {})
    watch_url = f"{reverse('tail-kv', args=[ctx.slug, bucket])}?{urlencode(watch)}"
    data["watch_url"] = watch_url
    return Result(data, page={"entries": found, "info": info, "pages": -(-total // size), "watch_url": watch_url})


def _kv_resources(bucket: str, key: str) -> tuple[tuple[str, str], ...]:
    """A bucket's values are a stream's messages too: rules may name the bucket, its stream or the key's subject."""
    return ("kv_buckets", bucket), ("streams", f"KV_{bucket}"), ("subjects", f"$KV.{bucket}.{key}")


@described(query=api.KeyQuery, answers={200: api.KeyValue})
async def key_data(ctx: Ctx) -> Result:
    bucket, key = ctx.args["bucket"], ctx.args["key"]
    revision = int_param(ctx.query, "revision", None, minimum=1, maximum=2**63 - 1)
    entry = await kv.kv(ctx.config).entry(bucket, key, revision)
    mask = await read_mask(ctx.user, ctx.slug, "kv_buckets", bucket)
    entry = mask.message(entry, *_kv_resources(bucket, key))
    await audit_unmasked(ctx.user, mask, "kv_buckets", bucket, "value")
    return Result({"bucket": bucket, **entry.as_api()}, page={"entry": entry, "payload": entry.value})


@described(answers={200: api.KeyHistory})
async def history_data(ctx: Ctx) -> Result:
    bucket, key = ctx.args["bucket"], ctx.args["key"]
    found = await kv.kv(ctx.config).history(bucket, key)
    mask = await read_mask(ctx.user, ctx.slug, "kv_buckets", bucket)
    found = [mask.message(e, *_kv_resources(bucket, key)) for e in found]
    await audit_unmasked(ctx.user, mask, "kv_buckets", bucket, "history")
    data = {"bucket": bucket, "key": key, "items": [{k: v for k, v in e.as_api().items() if k != "key"} for e in found]}
    return Result(data, page={"entries": found})


@described(body=api.KeyPut, answers={200: api.KeyWritten}, errors=[409])
@writes(kv.KV_PUT, needs="edit")
async def key_put(ctx: Ctx) -> dict[str, Any]:
    bucket = ctx.args["bucket"]
    body = ctx.body()
    # The page's "put a key" form names the key in a field; every other route in the path.
    key = ctx.args.get("key") or str_param(body, "key", max_length=1024).strip()
    ctx.args["key"] = key
    encoding = choice_param(body, "encoding", ENCODINGS, "text")
    raw = body.get("value")
    if raw is not None and not isinstance(raw, str):
        raise InvalidInput("value must be a string.", field="value")
    value = encode(raw or "", encoding or "text", "value") or b""
    revision = int_param(body, "revision", None, minimum=0, maximum=2**63 - 1)
    kv.require_key(key)
    written = await kv.do_put(ctx.user, ctx.config, bucket, key, value, revision)
    return {"revision": written, "message": f"{key} is now at revision {written}."}


@described(query=api.KeyDeleteQuery, answers={200: api.KeyDeleted})
@writes(kv.KV_KEY_DELETE, needs="delete")
async def key_delete(ctx: Ctx) -> dict[str, Any]:
    bucket, key = ctx.args["bucket"], ctx.args["key"]
    purge = bool_param(ctx.query, "purge", False) or bool_param(ctx.body(), "purge", False)
    written = await kv.do_delete_key(ctx.user, ctx.config, bucket, key, purge=purge)
    done = "purged" if purge else "deleted"
    return {"revision": written, "purged": purge, "message": f"{key} {done}."}


def _to_buckets(ctx: Ctx, data: dict[str, Any]) -> str:
    return reverse("nats-kv", args=[ctx.slug])


def _to_keys(ctx: Ctx, data: dict[str, Any]) -> str:
    return reverse("nats-kv-keys", args=[ctx.slug, ctx.args["bucket"]])


def _to_key(ctx: Ctx, data: dict[str, Any]) -> str:
    return reverse("nats-kv-key", args=[ctx.slug, ctx.args["bucket"], ctx.args["key"]])


# The fixed suffixes first: a key may itself end in "/history" only through the key page's route.
urlpatterns: list[URLPattern] = [
    *endpoint(
        f"{C}/kv",
        name="nats-kv",
        resource=KV_LIST,
        kind=KIND,
        template="nats_kv/buckets.html",
        page=tab("kv"),
        get=buckets_data,
        post=bucket_create,
    ),
    *action(
        f"{C}/kv/create",
        name="nats-kv-create",
        resource=KV_LIST,
        kind=KIND,
        handler=bucket_create,
        redirect=_to_buckets,
    ),
    *action(
        f"{B}/delete", name="nats-kv-delete", resource=KV_BUCKET, kind=KIND, handler=bucket_delete, redirect=_to_buckets
    ),
    *endpoint(B, name="nats-kv-bucket", resource=KV_BUCKET, kind=KIND, delete=bucket_delete),
    *endpoint(
        f"{B}/keys",
        name="nats-kv-keys",
        resource=KV_BUCKET,
        kind=KIND,
        template="nats_kv/keys.html",
        page=tab("kv"),
        get=keys_data,
    ),
    *endpoint(
        f"{B}/keys/<path:key>/history",
        name="nats-kv-history",
        resource=KV_VALUES,
        kind=KIND,
        template="nats_kv/history.html",
        page=tab("kv"),
        get=history_data,
    ),
    *action(f"{B}/put", name="nats-kv-new", resource=KV_BUCKET, kind=KIND, handler=key_put, redirect=_to_key),
    *action(
        f"{B}/keys/<path:key>/put", name="nats-kv-put", resource=KV_BUCKET, kind=KIND, handler=key_put, redirect=_to_key
    ),
    *action(
        f"{B}/keys/<path:key>/delete",
        name="nats-kv-key-delete",
        resource=KV_BUCKET,
        kind=KIND,
        handler=key_delete,
        redirect=_to_keys,
    ),
    *endpoint(
        f"{B}/keys/<path:key>",
        name="nats-kv-key",
        resource=KV_VALUES,
        kind=KIND,
        template="nats_kv/key.html",
        page=tab("kv"),
        get=key_data,
        put=key_put,
        delete=key_delete,
    ),
]
