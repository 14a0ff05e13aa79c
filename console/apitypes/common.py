"""Shapes many families share: payloads, paging, the cluster-wide fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

Page = Annotated[int, Field(ge=1, le=1_000_000, description="1-based page number")]
PageSize = Annotated[int, Field(ge=1, le=500)]
Flag = Annotated[bool, Field(description="true/false (also 1/0, yes/no, on/off)")]


class PagedQuery(TypedDict, total=False):
    q: Annotated[str, Field(max_length=200)]
    page: Page
    page_size: PageSize


class Decoded(TypedDict):
    format: Literal["avro", "protobuf", "json-schema"]
    schema_id: int | None
    subject: str | None
    version: int | None
    type: str | None
    data: Any


class Payload(TypedDict):
    """A key, value or header value: its text (null when not UTF-8), its bytes in base64, and its
    schema decoding where a schema applies."""

    text: str | None
    base64: str
    decoded: NotRequired[Decoded | None]
    decode_error: NotRequired[str | None]


# A header: [name, payload]
Header = tuple[str, Payload | None]


class Deleted(TypedDict):
    deleted: str
    message: str
