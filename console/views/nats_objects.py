"""NATS Object Store pages and their JSON twins: buckets, objects, streamed download, upload, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import IO, Any, cast
from urllib.parse import quote

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.views.decorators.csrf import csrf_exempt

from console.access import Forbidden, request_access
from console.apitypes import nats_stores as api
from console.apitypes.common import Deleted
from console.openapi import described
from console.params import str_param
from console.resources import OBJECT_BUCKET, OBJECT_LIST
from console.views.nats.common import KIND, tab
from console.web import Ctx, Result, action, check_view, endpoint, guarded, json_error, require_confirmation, writes
from streams import adapters
from streams.errors import InvalidInput, StreamdeskError
from streams.nats import objects
from streams.policies import MESSAGES, OBJECT_BUCKETS

C = "clusters/<slug:cluster>"
B = f"{C}/objects/<str:bucket>"


@described(answers={200: api.ObjectBuckets})
async def buckets_data(ctx: Ctx) -> Result:
    found = ctx.visible(OBJECT_BUCKETS, await objects.store(ctx.config).buckets(), lambda b: b.bucket)
    return Result({"items": [b.as_api() for b in found]}, page={"buckets": found})


@described(body=api.ObjectBucketCreate, answers={201: api.ObjectBucketCreated}, errors=[409])
@writes(objects.OBJ_CREATE, needs="edit")
async def bucket_create(ctx: Ctx) -> Result:
    body = ctx.body()
    bucket = str_param(body, "bucket", max_length=200).strip()
    if not bucket:
        raise InvalidInput("Give the bucket a name.", field="bucket")
    description = str_param(body, "description", max_length=4096)
    made = await objects.do_create_bucket(ctx.user, ctx.config, bucket, description)
    return Result({**made.as_api(), "message": f"Object store {bucket} created."}, status=201)


@described(answers={200: Deleted})
@writes(objects.OBJ_DELETE, needs="delete")
async def bucket_delete(ctx: Ctx) -> dict[str, Any]:
    bucket = ctx.args["bucket"]
    require_confirmation(ctx, bucket, what="deleting the object store")
    await objects.do_delete_bucket(ctx.user, ctx.config, bucket)
    return {"deleted": bucket, "message": f"Object store {bucket} deleted."}


@described(answers={200: api.Objects})
async def objects_data(ctx: Ctx) -> Result:
    bucket = ctx.args["bucket"]
    found = await objects.store(ctx.config).objects(bucket)
    return Result({"bucket": bucket, "items": [o.as_api() for o in found]}, page={"objects": found})


@writes(objects.OBJ_PUT, needs="edit")
async def object_upload(ctx: Ctx) -> Result:
    bucket = ctx.args["bucket"]
    upload = ctx.request.FILES.get("file")
    if upload is None:
        raise InvalidInput("Choose a file to upload (form field file).", field="file")
    name = (ctx.request.POST.get("name") or "").strip() or str(upload.name or "")
    description = ctx.request.POST.get("description") or ""
    # Django keeps an upload past 2.5 MB in a temporary file; the store reads it chunk by chunk.
    stored = await objects.do_put_object(ctx.user, ctx.config, bucket, name, cast(IO[bytes], upload.file), description)
    data = {"name": stored.name, "size": stored.size, "digest": stored.digest, "message": f"Uploaded {stored.name}."}
    return Result(data, status=201)


@described(answers={200: Deleted})
@writes(objects.OBJ_REMOVE, needs="delete")
async def object_delete(ctx: Ctx) -> dict[str, Any]:
    bucket, name = ctx.args["bucket"], ctx.args["name"]
    await objects.do_delete_object(ctx.user, ctx.config, bucket, name)
    return {"deleted": name, "message": f"{name} deleted."}


@guarded(OBJECT_BUCKET.needing(MESSAGES))
async def download(request: HttpRequest, cluster: str, bucket: str, name: str) -> HttpResponseBase:
    """The object's bytes, one chunk read from the server per chunk written to the client."""
    try:
        access = await request_access(request)
        if not access.authenticated:
            return json_error("Authentication required.", 401)
        await check_view(request, access, MESSAGES, cluster, OBJECT_BUCKETS, bucket)
        config = await adapters.aget_config(cluster, KIND)
        store = objects.store(config)
        obj = await store.info(bucket, name)
    except Forbidden as exc:
        return json_error(exc.message, 403)
    except StreamdeskError as exc:
        return json_error(exc.message, exc.status, exc.field)

    async def body() -> AsyncIterator[bytes]:
        async for chunk in store.chunks(bucket, obj):
            yield chunk

    response = StreamingHttpResponse(body(), content_type="application/octet-stream")
    response["Content-Length"] = str(obj.size)
    filename = name.rsplit("/", 1)[-1] or "object"
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
    return response


def _to_buckets(ctx: Ctx, data: dict[str, Any]) -> str:
    return reverse("nats-objects", args=[ctx.slug])


def _to_bucket(ctx: Ctx, data: dict[str, Any]) -> str:
    return reverse("nats-objects-bucket", args=[ctx.slug, ctx.args["bucket"]])


_download = login_not_required(csrf_exempt(download))

# The fixed suffixes first, so an object named "x/download" or "x/delete" still routes.
urlpatterns: list[URLPattern] = [
    *endpoint(
        f"{C}/objects",
        name="nats-objects",
        resource=OBJECT_LIST,
        kind=KIND,
        template="nats_objects/buckets.html",
        page=tab("objects"),
        get=buckets_data,
        post=bucket_create,
    ),
    *action(
        f"{C}/objects/create",
        name="nats-objects-create",
        resource=OBJECT_LIST,
        kind=KIND,
        handler=bucket_create,
        redirect=_to_buckets,
    ),
    path(f"api/v1/{B}/<path:name>/download", _download, name="api-nats-object-download"),
    path(f"{B}/<path:name>/download", _download, name="nats-object-download"),
    *action(
        f"{B}/<path:name>/delete",
        name="nats-object-delete",
        resource=OBJECT_BUCKET,
        kind=KIND,
        handler=object_delete,
        redirect=_to_bucket,
    ),
    *action(
        f"{B}/upload",
        name="nats-objects-upload",
        resource=OBJECT_BUCKET,
        kind=KIND,
        handler=object_upload,
        redirect=_to_bucket,
    ),
    *action(
        f"{B}/delete",
        name="nats-objects-delete",
        resource=OBJECT_BUCKET,
        kind=KIND,
        handler=bucket_delete,
        redirect=_to_buckets,
    ),
    *endpoint(
        B,
        name="nats-objects-bucket",
        resource=OBJECT_BUCKET,
        kind=KIND,
        template="nats_objects/bucket.html",
        page=tab("objects"),
        get=objects_data,
        post=object_upload,
        delete=bucket_delete,
    ),
    *endpoint(f"{B}/<path:name>", name="nats-object", resource=OBJECT_BUCKET, kind=KIND, delete=object_delete),
]
