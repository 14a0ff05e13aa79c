"""NATS Key-Value buckets and Object Stores, and micro services."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from console.apitypes.common import Flag, Page, PageSize, Payload

Time = Annotated[str | None, Field(description="ISO-8601")]
Operation = Literal["PUT", "DEL", "PURGE"]


class Bucket(TypedDict):
    bucket: str
    values: int
    bytes: int
    history: int
    ttl_s: float
    max_value_size: int
    max_bytes: int
    storage: str
    replicas: int


class Buckets(TypedDict):
    items: list[Bucket]


class BucketCreate(TypedDict, total=False):
    bucket: str
    history: Annotated[int, Field(ge=1, le=64)]
    ttl_s: Annotated[float, Field(ge=0)]
    max_value_size: Annotated[int, Field(ge=-1)]
    storage: Literal["file", "memory"]
    replicas: Annotated[int, Field(ge=1, le=5)]


class BucketCreated(Bucket):
    message: str


class KeysQuery(TypedDict, total=False):
    q: Annotated[str, Field(max_length=1024, description="a key pattern with * and >, or a substring")]
    page: Page
    page_size: PageSize


class KeyRow(TypedDict):
    key: str
    revision: int
    created: Time
    operation: Operation
    length: int


class Keys(TypedDict):
    bucket: str
    items: list[KeyRow]
    total: int
    page: int
    page_size: int
    q: str


class KeyQuery(TypedDict, total=False):
    revision: Annotated[int, Field(ge=1)]


class KeyValue(TypedDict):
    bucket: str
    key: str
    revision: int
    created: Time
    operation: Operation
    value: Payload | None
    truncated: bool


class Revision(TypedDict):
    revision: int
    created: Time
    operation: Operation
    value: Payload | None
    truncated: bool


class KeyHistory(TypedDict):
    bucket: str
    key: str
    items: list[Revision]


class KeyPut(TypedDict, total=False):
    value: str
    encoding: Literal["text", "json", "base64"]
    revision: Annotated[int | None, Field(description="compare-and-set: the revision the key must be at")]


class KeyWritten(TypedDict):
    revision: int
    message: str


class KeyDeleteQuery(TypedDict, total=False):
    purge: Flag


class KeyDeleted(TypedDict):
    revision: int
    purged: bool
    message: str


class ObjectBucket(TypedDict):
    bucket: str
    objects: int
    bytes: int
    description: str


class ObjectBuckets(TypedDict):
    items: list[ObjectBucket]


class ObjectBucketCreate(TypedDict, total=False):
    bucket: str
    description: str


class ObjectBucketCreated(ObjectBucket):
    message: str


class StoredObject(TypedDict):
    name: str
    size: int
    chunks: int
    modified: Time
    digest: str
    description: str
    link: dict[str, Any] | None


class Objects(TypedDict):
    bucket: str
    items: list[StoredObject]


class Services(TypedDict):
    """Every micro service answering $SRV.INFO, with its versions, instances, endpoints and stats."""

    items: list[dict[str, Any]]
