"""Every write to a NATS cluster: preconditions, the write, its audit record.

Pages, the API, Celery tasks and the consumer runner all call these; the adapter
drops the cached answers a write makes stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams import adapters, audit
from streams.clusters import ClusterConfig
from streams.nats.convert import parse_time
from streams.nats.durations import seconds

STREAM_PURGE = "nats.stream.purge"
STREAM_DELETE = "nats.stream.delete"
MESSAGE_DELETE = "nats.message.delete"
CONSUMER_PAUSE = "nats.consumer.pause"
CONSUMER_RESUME = "nats.consumer.resume"


@dataclass(frozen=True)
class PauseState:
    """The server's answer to a pause or resume."""

    paused: bool
    pause_until: datetime | None
    pause_remaining_s: float | None

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> PauseState:
        remaining = seconds(reply.get("pause_remaining"))
        return cls(
            paused=bool(reply.get("paused")),
            pause_until=parse_time(reply.get("pause_until")),
            pause_remaining_s=None if remaining is None else round(remaining, 3),
        )


async def do_purge_stream(
    actor: audit.Actor, cluster: ClusterConfig, stream: str, *, subject: str | None = None, keep: int | None = None
) -> int:
    """Purge a stream, or one subject of it, keeping the newest ``keep``; how many went."""
    adapter = adapters.nats(cluster)
    return await audit.perform(
        actor,
        STREAM_PURGE,
        lambda: adapter.purge_stream(stream, subject=subject, keep=keep),
        cluster=cluster.slug,
        target=stream,
        params={"subject": subject, "keep": keep},
        describe=lambda n: f"purged {n} messages",
    )


async def do_delete_stream(actor: audit.Actor, cluster: ClusterConfig, stream: str) -> None:
    adapter = adapters.nats(cluster)
    await audit.perform(
        actor,
        STREAM_DELETE,
        lambda: adapter.delete_stream(stream),
        cluster=cluster.slug,
        target=stream,
        describe=lambda _: f"deleted stream {stream}",
    )


async def do_delete_message(actor: audit.Actor, cluster: ClusterConfig, stream: str, seq: int, *, erase: bool) -> None:
    adapter = adapters.nats(cluster)
    await audit.perform(
        actor,
        MESSAGE_DELETE,
        lambda: adapter.delete_message(stream, seq, erase=erase),
        cluster=cluster.slug,
        target=f"{stream}#{seq}",
        params={"seq": seq, "erase": erase},
        describe=lambda _: f"deleted message {seq}" + (" (erased)" if erase else ""),
    )


async def do_pause_consumer(
    actor: audit.Actor,
    cluster: ClusterConfig,
    stream: str,
    name: str,
    until: datetime,
    params: dict[str, Any] | None = None,
) -> PauseState:
    """Pause on the server until ``until``; ``params`` records how the operator said it."""
    adapter = adapters.nats(cluster)

    async def run() -> PauseState:
        return PauseState.from_reply(await adapter.pause_consumer(stream, name, until))

    return await audit.perform(
        actor,
        CONSUMER_PAUSE,
        run,
        cluster=cluster.slug,
        target=f"{stream}/{name}",
        params=params if params is not None else {"until": until.isoformat()},
        describe=lambda r: f"paused until {r.pause_until.isoformat() if r.pause_until else None}",
    )


async def do_resume_consumer(actor: audit.Actor, cluster: ClusterConfig, stream: str, name: str) -> PauseState:
    adapter = adapters.nats(cluster)

    async def run() -> PauseState:
        return PauseState.from_reply(await adapter.resume_consumer(stream, name))

    return await audit.perform(
        actor,
        CONSUMER_RESUME,
        run,
        cluster=cluster.slug,
        target=f"{stream}/{name}",
        describe=lambda r: "resumed",
    )
