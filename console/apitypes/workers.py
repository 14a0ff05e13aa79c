"""Managed consumers (workers) and the handlers they can run."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

Time = Annotated[str | None, Field(description="ISO-8601")]


class Instance(TypedDict):
    id: str
    host: str
    pid: int
    state: str
    started_at: Time
    heartbeat_at: Time
    assignment: Any
    processed: int
    failed: int
    dead_lettered: int
    rate: float | None
    latency_ms: float | None
    last_error: str | None
    generation: int


class Worker(TypedDict):
    """One managed consumer; ``topic`` or ``stream`` repeats ``source`` under its kind's name."""

    name: str
    cluster: str
    source: str
    source_kind: Literal["topic", "stream"]
    filter_subject: str | None
    group: str
    durable: str | None
    handler: str
    config: dict[str, Any]
    start: str
    batch_size: int
    concurrency: int
    max_retries: int
    retry_backoff_ms: int
    retry_backoff_max_ms: int
    dead_letter: dict[str, Any] | None
    desired: str
    state: str
    generation: int
    pause_mode: str | None
    instances: list[Instance]
    processed: int
    failed: int
    dead_lettered: int
    lag: int | None
    lag_error: str | None
    rate: float
    latency_ms: float | None
    last_error: str | None
    last_error_at: Time
    last_error_origin: str | None
    created_at: str
    updated_at: str


class WorkerList(TypedDict):
    items: list[Worker]
    total: int


class WorkerChanged(Worker):
    message: str


class Definition(TypedDict, total=False):
    """A managed consumer's definition; on update, what is left out stays as it was."""

    name: str
    cluster: str
    topic: str
    stream: str
    group: str
    durable: str
    filter_subject: str
    handler: str
    config: dict[str, Any]
    start: str
    batch_size: Annotated[int, Field(ge=1)]
    concurrency: Annotated[int, Field(ge=1)]
    max_retries: Annotated[int, Field(ge=0)]
    retry_backoff_ms: Annotated[int, Field(ge=0)]
    retry_backoff_max_ms: Annotated[int, Field(ge=0)]
    dead_letter: dict[str, Any] | None
    desired: Literal["running", "paused", "stopped"]


class HandlerSpec(TypedDict):
    name: str
    description: str
    config_schema: dict[str, Any]


class Handlers(TypedDict):
    items: list[HandlerSpec]
    import_errors: dict[str, str]


class NewForm(TypedDict):
    handlers: list[HandlerSpec]


class WorkerDeleted(TypedDict):
    deleted: str
    message: str
