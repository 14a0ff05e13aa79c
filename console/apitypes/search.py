"""Searches over a topic: started (a read, though a POST), their progress and kept results."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict


class SearchStart(TypedDict, total=False):
    """What to look for and where: text and/or a jq filter over a partition and time or offset range."""

    text: str
    jq: str
    partitions: list[Annotated[int, Field(ge=0)]] | None
    limit: Annotated[int, Field(ge=1)]


class SearchStarted(TypedDict):
    search: int
    url: str


class Search(TypedDict):
    id: int
    cluster: str
    kind: str
    target: str
    params: dict[str, Any]
    state: Literal["running", "done", "failed", "cancelled"]
    scanned: int
    matched: int
    progress: float
    rate: float
    error: str | None


class ResultsQuery(TypedDict, total=False):
    page: Annotated[int, Field(ge=1, le=1_000_000)]
    page_size: Annotated[int, Field(ge=1, le=1000)]


class SearchResults(Search):
    results: list[dict[str, Any]]
    total_results: int
    page: int
    page_size: int


class SearchCancelled(Search):
    message: str


class StreamSearchStart(TypedDict, total=False):
    """A JetStream search: text and/or jq over a sequence or time range, optionally one subject filter."""

    text: str
    jq: str
    subject: str | None
    limit: Annotated[int, Field(ge=1)]
    max_scan: Annotated[int, Field(ge=1)] | None
