"""NATS Key-Value buckets, read and changed through the JetStream API of their streams.

A bucket ``b`` is the stream ``KV_b`` on ``$KV.b.>``; a key's revision is its message's
sequence. Keys are listed from the stream's per-subject counts, filtered, sorted and cut
at the page by the server (see ``subject_pages``), and only the page shown is read
message by message, so a large bucket is never read whole.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from streams import adapters, audit
from streams.clusters import ClusterConfig
from streams.errors import Conflict, InvalidInput, NotFound
from streams.nats.convert import as_dict, as_int, parse_time
from streams.nats.subject_pages import page_of_subjects, search_subjects
from streams.nats.subjects import validate_subject
from streams.payloads import DISPLAY_LIMIT, Payload

if TYPE_CHECKING:
    from streams.nats.adapter import NatsAdapter

KV_CREATE = "nats.kv.create"
KV_DELETE = "nats.kv.delete"
KV_PUT = "nats.kv.put"
KV_KEY_DELETE = "nats.kv.key.delete"

BUCKET_RE = re.compile(r"^[a-zA-Z0-9_-]{1,200}$")
KEY_RE = re.compile(r"^[-/_=.a-zA-Z0-9]{1,1024}$")
PATTERN_RE = re.compile(r"^[-/_=.a-zA-Z0-9*>]{1,1024}$")
WRONG_LAST_SEQUENCE = 10071
NS = 1_000_000_000


def require_bucket(bucket: str) -> None:
    if not BUCKET_RE.match(bucket):
        raise NotFound(f"No bucket named {bucket[:80]!r}: that is not a valid bucket name.")


def valid_key(key: str) -> bool:
    return bool(KEY_RE.match(key)) and not key.startswith(".") and not key.endswith(".") and ".." not in key


def require_key(key: str) -> None:
    if not valid_key(key):
        raise NotFound(f"No key {key[:80]!r}: keys hold letters, digits and - / _ = . only.")


@dataclass(frozen=True)
class Bucket:
    bucket: str
    values: int
    bytes: int
    history: int
    ttl_s: float
    max_value_size: int
    max_bytes: int
    storage: str
    replicas: int

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> Bucket:
        config, state = as_dict(info.get("config")), as_dict(info.get("state"))
        return cls(
            bucket=str(config.get("name", ""))[3:],
            values=as_int(state.get("messages")),
            bytes=as_int(state.get("bytes")),
            history=as_int(config.get("max_msgs_per_subject"), 1),
            ttl_s=as_int(config.get("max_age")) / NS,
            max_value_size=as_int(config.get("max_msg_size"), -1),
            max_bytes=as_int(config.get("max_bytes"), -1),
            storage=str(config.get("storage", "file")),
            replicas=as_int(config.get("num_replicas"), 1),
        )

    def as_api(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Entry:
    key: str
    revision: int
    created: datetime | None
    operation: str
    value: Payload

    def as_api(self, *, with_value: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "revision": self.revision,
            "created": self.created,
            "operation": self.operation,
        }
        if with_value:
            data["value"] = self.value.as_api()
            data["truncated"] = self.value.truncated
        else:
            data["length"] = self.value.size
        return data


def _operation(headers: bytes) -> str:
    for line in headers.decode("utf-8", "replace").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "kv-operation":
            return value.strip().upper() or "PUT"
    return "PUT"


def _entry(bucket: str, message: dict[str, Any], limit: int) -> Entry:
    raw = base64.b64decode(str(message.get("data") or ""))
    headers = base64.b64decode(str(message.get("hdrs") or ""))
    subject = str(message.get("subject", ""))
    return Entry(
        key=subject.removeprefix(f"$KV.{bucket}."),
        revision=as_int(message.get("seq")),
        created=parse_time(message.get("time")),
        operation=_operation(headers) if headers else "PUT",
        value=Payload.of(raw, limit),
    )


def _stream_name(info: dict[str, Any]) -> str:
    return str(as_dict(info.get("config")).get("name", ""))


class KeyValue:
    """The KV reads and writes of one cluster's adapter."""

    def __init__(self, adapter: NatsAdapter) -> None:
        self.adapter = adapter

    async def buckets(self) -> list[Bucket]:
        adapter = self.adapter

        async def fetch() -> list[Any]:
            return await adapter._list_all("STREAM.LIST", "streams", _stream_name, what="Listing buckets")

        infos = await adapter.call(fetch, what="listing KV buckets")
        found = [Bucket.from_info(i) for i in infos if _stream_name(i).startswith("KV_")]
        return sorted(found, key=lambda b: b.bucket)

    async def bucket(self, bucket: str) -> Bucket:
        require_bucket(bucket)
        info = await self.adapter.call(
            lambda: self.adapter.api(f"STREAM.INFO.KV_{bucket}", what=f"Bucket {bucket!r}"), what=f"bucket {bucket}"
        )
        return Bucket.from_info(info)

    async def create(
        self, bucket: str, *, history: int, ttl_s: float, max_value_size: int, storage: str, replicas: int
    ) -> Bucket:
        if not BUCKET_RE.match(bucket):
            raise InvalidInput("A bucket name holds letters, digits, - and _ only.", field="bucket")
        ttl_ns = int(ttl_s * NS)
        config = {
            "name": f"KV_{bucket}",
            "subjects": [f"$KV.{bucket}.>"],
            "max_msgs_per_subject": history,
            "max_age": ttl_ns,
            "max_msg_size": max_value_size,
            "max_bytes": -1,
            "storage": storage,
            "num_replicas": replicas,
            "discard": "new",
            "allow_rollup_hdrs": True,
            "deny_delete": True,
            "allow_direct": True,
            "duplicate_window": min(ttl_ns, 120 * NS) if ttl_ns else 120 * NS,
        }

        async def run() -> dict[str, Any]:
            return await self.adapter.api(f"STREAM.CREATE.KV_{bucket}", config, what=f"Creating bucket {bucket!r}")

        try:
            return Bucket.from_info(await self.adapter.call(run, what=f"creating bucket {bucket}"))
        finally:
            self.adapter.invalidate()

    async def delete(self, bucket: str) -> None:
        require_bucket(bucket)

        async def run() -> None:
            await self.adapter.api(f"STREAM.DELETE.KV_{bucket}", what=f"Deleting bucket {bucket!r}")

        try:
            await self.adapter.call(run, what=f"deleting bucket {bucket}")
        finally:
            self.adapter.invalidate()

    async def keys(self, bucket: str, q: str, page: int, size: int) -> tuple[list[Entry], int]:
        """One page of keys (sorted) whose name matches ``q`` (a pattern with * / >, else a
        substring), each with its latest revision; and how many match in all."""
        require_bucket(bucket)
        wildcard = "*" in q or ">" in q
        if wildcard and (not PATTERN_RE.match(q) or validate_subject(q)):
            raise InvalidInput("q is not a valid key pattern.", field="q")
        prefix = f"$KV.{bucket}."
        stream = f"KV_{bucket}"
        adapter = self.adapter
        what = f"Bucket {bucket!r}"
        offset = (page - 1) * size

        async def run() -> tuple[list[Entry], int]:
            nc = await adapter._client()
            # The server filters and sorts the subjects and starts at the page: only names are read, and
            # only the page's are kept. A substring is the one filter the server cannot apply.
            if q and not wildcard:
                chosen, total = await search_subjects(
                    nc, stream, prefix + ">", q, prefix, offset, size, adapter.timeout, what
                )
            else:
                chosen, total = await page_of_subjects(
                    nc, stream, prefix + (q or ">"), offset, size, adapter.timeout, what
                )
            found = []
            for subject in chosen:
                reply = await adapter.api(f"STREAM.MSG.GET.{stream}", {"last_by_subj": subject}, what=what)
                found.append(_entry(bucket, as_dict(reply.get("message")), 0))
            return found, total

        try:
            # A few answers of up to 100,000 names each for a substring over a large bucket.
            return await adapter.call(run, what=f"keys of bucket {bucket}", timeout=4 * adapter.timeout)
        except NotFound:
            raise NotFound(f"No bucket named {bucket!r}.") from None

    async def entry(self, bucket: str, key: str, revision: int | None = None, limit: int = DISPLAY_LIMIT) -> Entry:
        require_bucket(bucket)
        require_key(key)
        subject = f"$KV.{bucket}.{key}"
        body: dict[str, Any] = {"seq": revision} if revision is not None else {"last_by_subj": subject}

        async def run() -> Entry:
            reply = await self.adapter.api(f"STREAM.MSG.GET.KV_{bucket}", body, what=f"Key {key!r} of {bucket!r}")
            message = as_dict(reply.get("message"))
            if message.get("subject") != subject:
                raise NotFound(f"Key {key!r} of {bucket!r} has no revision {revision}.")
            return _entry(bucket, message, limit)

        return await self.adapter.call(run, what=f"key {key} of {bucket}")

    async def history(self, bucket: str, key: str, limit: int = DISPLAY_LIMIT) -> list[Entry]:
        """Every kept revision, oldest first (at most the bucket's history, 64 at most)."""
        require_bucket(bucket)
        require_key(key)
        subject = f"$KV.{bucket}.{key}"

        async def run() -> list[Entry]:
            found: list[Entry] = []
            seq = 1
            for _ in range(65):
                try:
                    reply = await self.adapter.api(
                        f"STREAM.MSG.GET.KV_{bucket}", {"seq": seq, "next_by_subj": subject}, what=f"Key {key!r}"
                    )
                except NotFound:
                    break
                entry = _entry(bucket, as_dict(reply.get("message")), limit)
                found.append(entry)
                seq = entry.revision + 1
            if not found:
                raise NotFound(f"Bucket {bucket!r} has no key {key!r}.")
            return found

        return await self.adapter.call(run, what=f"history of {key} in {bucket}")

    async def _publish(self, bucket: str, key: str, value: bytes, headers: dict[str, str], what: str) -> int:
        require_bucket(bucket)
        require_key(key)

        async def run() -> int:
            nc = await self.adapter._client()
            reply = await nc.request(f"$KV.{bucket}.{key}", value, timeout=self.adapter.timeout, headers=headers)
            data = json.loads(reply.data or b"{}")
            error = as_dict(data.get("error"))
            if error:
                description = str(error.get("description") or "refused")
                if as_int(error.get("err_code")) == WRONG_LAST_SEQUENCE:
                    raise Conflict(f"{what}: the key has moved on ({description}).", field="revision")
                raise InvalidInput(f"{what}: {description}", field=None)
            return as_int(data.get("seq"))

        try:
            return await self.adapter.call(run, what=what)
        finally:
            self.adapter.invalidate()

    async def put(self, bucket: str, key: str, value: bytes, revision: int | None) -> int:
        headers = {} if revision is None else {"Nats-Expected-Last-Subject-Sequence": str(revision)}
        return await self._publish(bucket, key, value, headers, f"Putting {key!r} in {bucket!r}")

    async def delete_key(self, bucket: str, key: str, *, purge: bool) -> int:
        headers = {"KV-Operation": "PURGE", "Nats-Rollup": "sub"} if purge else {"KV-Operation": "DEL"}
        return await self._publish(bucket, key, b"", headers, f"Deleting {key!r} from {bucket!r}")


def kv(cluster: ClusterConfig) -> KeyValue:
    return KeyValue(adapters.nats(cluster))


async def do_create_bucket(actor: audit.Actor, cluster: ClusterConfig, bucket: str, **options: Any) -> Bucket:
    return await audit.perform(
        actor,
        KV_CREATE,
        lambda: kv(cluster).create(bucket, **options),
        cluster=cluster.slug,
        target=bucket,
        params=options,
        describe=lambda _: f"created bucket {bucket}",
    )


async def do_delete_bucket(actor: audit.Actor, cluster: ClusterConfig, bucket: str) -> None:
    await audit.perform(
        actor,
        KV_DELETE,
        lambda: kv(cluster).delete(bucket),
        cluster=cluster.slug,
        target=bucket,
        describe=lambda _: f"deleted bucket {bucket}",
    )


async def do_put(
    actor: audit.Actor, cluster: ClusterConfig, bucket: str, key: str, value: bytes, revision: int | None
) -> int:
    return await audit.perform(
        actor,
        KV_PUT,
        lambda: kv(cluster).put(bucket, key, value, revision),
        cluster=cluster.slug,
        target=f"{bucket}/{key}",
        params={"revision": revision, "bytes": len(value)},
        describe=lambda r: f"put revision {r}",
    )


async def do_delete_key(actor: audit.Actor, cluster: ClusterConfig, bucket: str, key: str, *, purge: bool) -> int:
    return await audit.perform(
        actor,
        KV_KEY_DELETE,
        lambda: kv(cluster).delete_key(bucket, key, purge=purge),
        cluster=cluster.slug,
        target=f"{bucket}/{key}",
        params={"purge": purge},
        describe=lambda r: ("purged" if purge else "deleted") + f" at revision {r}",
    )
