"""Hands out one long-lived adapter per cluster per process.

Adapters are keyed on the cluster's whole config, so an edit in the admin (new
servers, new password) retires the old client and the next call gets a new one.
Views ask here; they never import a broker client. Each broker package provides its
adapter class (``provide``) when it is imported, which the app does at start: this module
knows no broker, so the brokers may ask it for adapters without an import cycle.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from asgiref.sync import sync_to_async

from streams.clusters import ClusterConfig, load_all
from streams.errors import NotFound

if TYPE_CHECKING:
    from typing import TypeAlias

    from streams.kafka.adapter import KafkaAdapter
    from streams.nats.adapter import NatsAdapter

    Adapter: TypeAlias = KafkaAdapter | NatsAdapter

_lock = threading.Lock()
_factories: dict[str, Callable[[ClusterConfig], Adapter]] = {}
_adapters: dict[str, tuple[ClusterConfig, Adapter]] = {}
_configs: tuple[float, list[ClusterConfig]] | None = None
CONFIG_TTL_SECONDS = 2.0


def clusters(*, fresh: bool = False) -> list[ClusterConfig]:
    """Every cluster, re-read from env/file/database at most every couple of seconds."""
    global _configs
    now = time.monotonic()
    cached = _configs
    if not fresh and cached is not None and now - cached[0] < CONFIG_TTL_SECONDS:
        return cached[1]
    found = load_all()
    _configs = (now, found)
    return found


async def aclusters() -> list[ClusterConfig]:
    cached = _configs
    if cached is not None and time.monotonic() - cached[0] < CONFIG_TTL_SECONDS:
        return cached[1]
    return await sync_to_async(clusters)()


def find(slug: str, found: list[ClusterConfig], kind: str | None = None) -> ClusterConfig:
    for config in found:
        if config.slug == slug and (kind is None or config.kind == kind):
            return config
    what = f"{kind} cluster" if kind else "cluster"
    raise NotFound(f"No {what} named {slug!r}.")


def get_config(slug: str, kind: str | None = None) -> ClusterConfig:
    return find(slug, clusters(), kind)


async def aget_config(slug: str, kind: str | None = None) -> ClusterConfig:
    return find(slug, await aclusters(), kind)


def adapter_for(config: ClusterConfig) -> Adapter:
    with _lock:
        current = _adapters.get(config.slug)
        if current is not None and current[0] == config:
            return current[1]
        adapter = _build(config)
        _adapters[config.slug] = (config, adapter)
    if current is not None:
        current[1].close()
    return adapter


def provide(kind: str, factory: Callable[[ClusterConfig], Adapter]) -> None:
    """Called by a broker package: ``factory`` makes the adapter of every cluster of ``kind``."""
    _factories[kind] = factory


def kafka(config: ClusterConfig) -> KafkaAdapter:
    """The Kafka cluster's adapter; NotFound when ``config`` is not a Kafka cluster."""
    if config.kind != "kafka":
        raise NotFound(f"{config.slug} is not a Kafka cluster.")
    return cast("KafkaAdapter", adapter_for(config))


def nats(config: ClusterConfig) -> NatsAdapter:
    """The NATS cluster's adapter; NotFound when ``config`` is not a NATS cluster."""
    if config.kind != "nats":
        raise NotFound(f"{config.slug} is not a NATS cluster.")
    return cast("NatsAdapter", adapter_for(config))


def _build(config: ClusterConfig) -> Adapter:
    factory = _factories.get(config.kind)
    if factory is None:
        raise RuntimeError(f"No adapter for {config.kind} clusters: the streams app imports the brokers at start.")
    return factory(config)


def get_adapter(slug: str, kind: str | None = None) -> Adapter:
    """The adapter of the cluster named ``slug`` (sync callers: commands, tasks)."""
    return adapter_for(get_config(slug, kind))


def invalidate() -> None:
    """Forget the cached cluster list so the next call re-reads it."""
    global _configs
    _configs = None


def forget_answers() -> None:
    """Drop every adapter's cached broker answers; the clients stay connected."""
    with _lock:
        adapters = [adapter for _, adapter in _adapters.values()]
    for adapter in adapters:
        adapter.invalidate()


def reset() -> None:
    """Close every adapter (tests, shutdown)."""
    global _configs
    with _lock:
        old = list(_adapters.values())
        _adapters.clear()
        _configs = None
    for _, adapter in old:
        adapter.close()


atexit.register(reset)
