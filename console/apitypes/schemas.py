"""A Kafka cluster's Schema Registry: subjects, versions, registering, compatibility, delete.
Without a registry every route answers 404 with a sentence saying so."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from console.apitypes.common import PagedQuery

SchemaType = Literal["AVRO", "PROTOBUF", "JSON"]


class SubjectsQuery(PagedQuery, total=False):
    page_size: Annotated[int, Field(ge=1, le=200)]


class SubjectRow(TypedDict):
    subject: str
    type: Annotated[str, Field(description="AVRO, PROTOBUF or JSON")]
    latest_version: int | None
    id: int | None
    compatibility: str


class Subjects(TypedDict):
    items: list[SubjectRow]
    total: int


class Version(TypedDict):
    version: int | None
    id: int | None
    type: Annotated[str, Field(description="AVRO, PROTOBUF or JSON")]
    schema: str
    references: list[dict[str, Any]]


class Subject(TypedDict):
    subject: str
    compatibility: str | None
    versions: list[Version]


class SchemaText(TypedDict, total=False):
    schema: str
    type: SchemaType
    references: list[dict[str, Any]]


class Verdict(TypedDict):
    compatible: bool
    messages: list[str]


class Registered(TypedDict):
    id: int
    version: int
    message: str


class Compatibility(TypedDict):
    compatibility: str


class CompatibilitySet(TypedDict):
    compatibility: str
    message: str


class DeleteQuery(TypedDict, total=False):
    permanent: Literal["true", "false", "1", "0"]


class SubjectDeleted(TypedDict):
    subject: str
    versions: list[int]
    permanent: bool
    message: str
