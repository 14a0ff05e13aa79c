"""NATS Object Store buckets, read through the JetStream API of their streams.

A bucket ``b`` is the stream ``OBJ_b``; an object's metadata is the last message on
``$O.b.M.<base64url name>`` and its bytes are the chunks on ``$O.b.C.<nuid>``. Downloads
read one chunk per request, so memory stays at one chunk whatever the object's size;
uploads go through nats-py's object store, which reads the file chunk by chunk.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from io import BufferedIOBase
from typing import IO, TYPE_CHECKING, Any, cast

from streams import adapters, audit
from streams.clusters import ClusterConfig
from streams.errors import InvalidInput, NotFound
from streams.nats.convert import as_dict, as_int, parse_time

if TYPE_CHECKING:
    from streams.nats.adapter import NatsAdapter

OBJ_CREATE = "nats.objects.create"
OBJ_DELETE = "nats.objects.delete"
OBJ_PUT = "nats.object.put"
OBJ_REMOVE = "nats.object.delete"

BUCKET_RE = re.compile(r"^[a-zA-Z0-9_-]{1,200}$")
NAME_MAX = 1024


def require_bucket(bucket: str) -> None:
    if not BUCKET_RE.match(bucket):
        raise NotFound(f"No object store named {bucket[:80]!r}: that is not a valid bucket name.")


def encoded(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


@dataclass(frozen=True)
class ObjectBucket:
    bucket: str
    objects: int
    bytes: int
    description: str

    def as_api(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class StoredObject:
    name: str
    size: int
    chunks: int
    modified: datetime | None
    digest: str
    description: str
    nuid: str
    link: dict[str, Any] | None
    deleted: bool

    @classmethod
    def from_meta(cls, meta: dict[str, Any], modified: datetime | None) -> StoredObject:
        options = as_dict(meta.get("options"))
        link = options.get("link")
        return cls(
            name=str(meta.get("name", "")),
            size=as_int(meta.get("size")),
            chunks=as_int(meta.get("chunks")),
            modified=parse_time(meta.get("mtime")) or modified,
            digest=str(meta.get("digest") or ""),
            description=str(meta.get("description") or ""),
            nuid=str(meta.get("nuid") or ""),
            link=link if isinstance(link, dict) else None,
            deleted=bool(meta.get("deleted")),
        )

    def as_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "chunks": self.chunks,
            "modified": self.modified,
            "digest": self.digest,
            "description": self.description,
            "link": self.link,
        }


class ObjectStore:
    def __init__(self, adapter: NatsAdapter) -> None:
        self.adapter = adapter

    async def buckets(self) -> list[ObjectBucket]:
        adapter = self.adapter

        async def fetch() -> list[Any]:
            return await adapter._list_all("STREAM.LIST", "streams", _stream_name, what="Listing object stores")

        infos = await adapter.call(fetch, what="listing object stores")
        found = []
        for info in infos:
            name = _stream_name(info)
            if not name.startswith("OBJ_"):
                continue
            config, state = as_dict(info.get("config")), as_dict(info.get("state"))
            bucket = name[4:]
            # Chunks have subjects of their own: count the metadata subjects alone.
            counted = await adapter.call(_meta_counter(adapter, bucket), what=f"object store {bucket}")
            found.append(
                ObjectBucket(
                    bucket=bucket,
                    objects=len(as_dict(as_dict(counted.get("state")).get("subjects"))),
                    bytes=as_int(state.get("bytes")),
                    description=str(config.get("description") or ""),
                )
            )
        return sorted(found, key=lambda b: b.bucket)

    async def objects(self, bucket: str) -> list[StoredObject]:
        """Every object's metadata (deleted ones left out), by name."""
        require_bucket(bucket)
        prefix = f"$O.{bucket}.M."
        adapter = self.adapter

        async def run() -> list[StoredObject]:
            info = await adapter.api(
                f"STREAM.INFO.OBJ_{bucket}", {"subjects_filter": prefix + ">"}, what=f"Object store {bucket!r}"
            )
            found = []
            for subject in sorted(as_dict(as_dict(info.get("state")).get("subjects"))):
                reply = await adapter.api(f"STREAM.MSG.GET.OBJ_{bucket}", {"last_by_subj": subject}, what="Object")
                message = as_dict(reply.get("message"))
                obj = _from_message(message)
                if obj is not None and not obj.deleted:
                    found.append(obj)
            return sorted(found, key=lambda o: o.name)

        return await adapter.call(run, what=f"objects of {bucket}")

    async def info(self, bucket: str, name: str) -> StoredObject:
        require_bucket(bucket)
        subject = f"$O.{bucket}.M.{encoded(name)}"

        async def run() -> StoredObject:
            reply = await self.adapter.api(
                f"STREAM.MSG.GET.OBJ_{bucket}", {"last_by_subj": subject}, what=f"Object {name!r} of {bucket!r}"
            )
            obj = _from_message(as_dict(reply.get("message")))
            if obj is None or obj.deleted:
                raise NotFound(f"Object store {bucket!r} has no object {name!r}.")
            return obj

        return await self.adapter.call(run, what=f"object {name} of {bucket}")

    async def chunks(self, bucket: str, obj: StoredObject) -> AsyncIterator[bytes]:
        """The object's bytes, one chunk per request: the next is asked for only once the
        caller took the last, so a reader that stops pulling stops the reading."""
        subject = f"$O.{bucket}.C.{obj.nuid}"
        seq = 1
        for _ in range(obj.chunks):
            body = {"seq": seq, "next_by_subj": subject}

            async def one(body: dict[str, Any] = body) -> tuple[bytes, int]:
                reply = await self.adapter.api(f"STREAM.MSG.GET.OBJ_{bucket}", body, what="Object chunk")
                message = as_dict(reply.get("message"))
                return base64.b64decode(str(message.get("data") or "")), as_int(message.get("seq"))

            data, at = await self.adapter.call(one, what=f"reading {obj.name}")
            seq = at + 1
            yield data

    async def create(self, bucket: str, description: str) -> ObjectBucket:
        if not BUCKET_RE.match(bucket):
            raise InvalidInput("A bucket name holds letters, digits, - and _ only.", field="bucket")

        async def run() -> None:
            nc = await self.adapter._client()
            from nats.js.api import ObjectStoreConfig

            await nc.jetstream().create_object_store(bucket, ObjectStoreConfig(description=description or None))

        await self.adapter.call(run, what=f"creating object store {bucket}")
        return ObjectBucket(bucket=bucket, objects=0, bytes=0, description=description)

    async def delete(self, bucket: str) -> None:
        require_bucket(bucket)

        async def run() -> None:
            await self.adapter.api(f"STREAM.DELETE.OBJ_{bucket}", what=f"Deleting object store {bucket!r}")

        await self.adapter.call(run, what=f"deleting object store {bucket}")

    async def put(self, bucket: str, name: str, source: IO[bytes], description: str) -> StoredObject:
        require_bucket(bucket)
        if not name or len(name) > NAME_MAX:
            raise InvalidInput(f"An object name holds 1 to {NAME_MAX} characters.", field="name")

        async def run() -> None:
            from nats.js.api import ObjectMeta

            nc = await self.adapter._client()
            store = await nc.jetstream().object_store(bucket)
            await store.put(
                name, cast(BufferedIOBase, source), meta=ObjectMeta(name=name, description=description or None)
            )

        # A big upload takes as long as it takes; a stalled server still ends it.
        await self.adapter.call(run, what=f"uploading {name}", timeout=max(self.adapter.timeout, 600))
        return await self.info(bucket, name)

    async def remove(self, bucket: str, name: str) -> None:
        require_bucket(bucket)
        await self.info(bucket, name)

        async def run() -> None:
            nc = await self.adapter._client()
            store = await nc.jetstream().object_store(bucket)
            await store.delete(name)

        await self.adapter.call(run, what=f"deleting {name}")


def _meta_counter(adapter: NatsAdapter, bucket: str) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def count() -> dict[str, Any]:
        body = {"subjects_filter": f"$O.{bucket}.M.>"}
        return await adapter.api(f"STREAM.INFO.OBJ_{bucket}", body, what=f"Object store {bucket!r}")

    return count


def _stream_name(info: dict[str, Any]) -> str:
    return str(as_dict(info.get("config")).get("name", ""))


def _from_message(message: dict[str, Any]) -> StoredObject | None:
    try:
        meta = json.loads(base64.b64decode(str(message.get("data") or "")))
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    return StoredObject.from_meta(meta, parse_time(message.get("time")))


def store(cluster: ClusterConfig) -> ObjectStore:
    return ObjectStore(adapters.nats(cluster))


async def do_create_bucket(actor: audit.Actor, cluster: ClusterConfig, bucket: str, description: str) -> ObjectBucket:
    return await audit.perform(
        actor, OBJ_CREATE, lambda: store(cluster).create(bucket, description), cluster=cluster.slug, target=bucket
    )


async def do_delete_bucket(actor: audit.Actor, cluster: ClusterConfig, bucket: str) -> None:
    await audit.perform(actor, OBJ_DELETE, lambda: store(cluster).delete(bucket), cluster=cluster.slug, target=bucket)


async def do_put_object(
    actor: audit.Actor, cluster: ClusterConfig, bucket: str, name: str, source: IO[bytes], description: str
) -> StoredObject:
    return await audit.perform(
        actor,
        OBJ_PUT,
        lambda: store(cluster).put(bucket, name, source, description),
        cluster=cluster.slug,
        target=f"{bucket}/{name}",
        describe=lambda o: f"uploaded {o.size} bytes, {o.digest}",
    )


async def do_delete_object(actor: audit.Actor, cluster: ClusterConfig, bucket: str, name: str) -> None:
    await audit.perform(
        actor, OBJ_REMOVE, lambda: store(cluster).remove(bucket, name), cluster=cluster.slug, target=f"{bucket}/{name}"
    )
