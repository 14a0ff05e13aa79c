"""The live-tail pages' JSON twins: what to send on the socket to tail the same thing."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

Start = Literal["now", "beginning", "last", "offset", "seq", "time"]


class TailQuery(TypedDict, total=False):
    order: Literal["newest", "oldest"]
    rows: Annotated[int, Field(ge=10, le=10_000)]
    filter: Annotated[str, Field(max_length=256)]


TopicTailQuery = TypedDict(
    "TopicTailQuery",
    {
        "from": Literal["now", "beginning", "last", "offset", "time"],
        "n": Annotated[int, Field(ge=1, le=100_000)],
        "offset": Annotated[int, Field(ge=0)],
        "time": Annotated[str, Field(description="ISO-8601")],
        "partitions": Annotated[str, Field(max_length=2000, description="comma-separated partition numbers")],
        "order": Literal["newest", "oldest"],
        "rows": Annotated[int, Field(ge=10, le=10_000)],
        "filter": Annotated[str, Field(max_length=256)],
    },
    total=False,
)

StreamTailQuery = TypedDict(
    "StreamTailQuery",
    {
        "from": Literal["now", "beginning", "last", "seq", "time"],
        "n": Annotated[int, Field(ge=1, le=100_000)],
        "seq": Annotated[int, Field(ge=1)],
        "time": Annotated[str, Field(description="ISO-8601")],
        "subject": Annotated[str, Field(max_length=1024)],
        "order": Literal["newest", "oldest"],
        "rows": Annotated[int, Field(ge=10, le=10_000)],
        "filter": Annotated[str, Field(max_length=256)],
    },
    total=False,
)


KvTailQuery = TypedDict(
    "KvTailQuery",
    {
        "from": Literal["now", "beginning"],
        "keys": Annotated[str, Field(max_length=1024, description="a key pattern with * and >")],
        "order": Literal["newest", "oldest"],
        "rows": Annotated[int, Field(ge=10, le=10_000)],
        "filter": Annotated[str, Field(max_length=256)],
    },
    total=False,
)


class SubjectTailQuery(TailQuery, total=False):
    subject: Annotated[str, Field(max_length=1024, description="a subject or a pattern (required)")]


class TailPage(TypedDict):
    """Where the socket is and the subscribe frame that tails what the page names."""

    cluster: str
    source: Literal["topic", "stream", "subject", "kv"]
    name: str
    socket: str
    subscribe: dict[str, Any]
    start: str
    order: Literal["newest", "oldest"]
    rows: int
    partitions: NotRequired[list[int]]
    subjects: NotRequired[list[str]]
    subject: NotRequired[str | None]
