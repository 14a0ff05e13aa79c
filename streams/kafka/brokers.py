"""Brokers of a Kafka cluster: who they are, what they lead and hold, and their configs.

DescribeCluster names the brokers with their racks; the partition counts come from the
cached metadata. Whether a broker is a controller is read from its own ``process.roles``
config: under KRaft, Metadata and DescribeCluster name some live broker as "the
controller", which says nothing. Only where the broker has no such config (ZooKeeper
mode) does the metadata's controller id mean what it says.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from confluent_kafka.admin import ConfigResource, ResourceType

from streams.errors import NotFound, NotSupported, StreamdeskError
from streams.kafka.client import gather_futures
from streams.kafka.convert import configs_from
from streams.kafka.types import ClusterMetadata, ConfigItem

if TYPE_CHECKING:
    from streams.kafka.adapter import KafkaAdapter

# A cluster page asks every broker for its configs at once; more than this go out in rounds.
CONFIG_PARALLELISM = 16


@dataclass(frozen=True)
class BrokerInfo:
    id: int
    host: str
    port: int | None
    rack: str | None
    controller: bool | None
    leader_partitions: int
    replica_partitions: int


@dataclass(frozen=True)
class BrokerNode:
    id: int
    host: str
    port: int | None
    rack: str | None


def sort_configs(items: Sequence[ConfigItem]) -> list[ConfigItem]:
    """What was set on purpose first, then the defaults; by name within each."""
    return sorted(items, key=lambda c: (c.default, c.name))


def config_api(item: ConfigItem) -> dict[str, object]:
    return {
        "name": item.name,
        "value": item.value,
        "source": item.source,
        "default": item.default,
        "sensitive": item.sensitive,
        "read_only": item.read_only,
    }


def _split(address: str) -> tuple[str, int | None]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return address, None
    return host, int(port)


async def nodes(adapter: KafkaAdapter) -> dict[int, BrokerNode]:
    """The brokers as DescribeCluster names them (racks included), else as the metadata does."""

    async def load() -> dict[int, BrokerNode]:
        def run() -> dict[int, BrokerNode]:
            answer = adapter.admin.describe_cluster(request_timeout=adapter.timeout).result(adapter.timeout + 0.2)
            return {
                int(n.id): BrokerNode(id=int(n.id), host=str(n.host), port=int(n.port), rack=n.rack or None)
                for n in answer.nodes or ()
            }

        return await adapter.call(run, what="describe cluster")

    try:
        found = await adapter.cache.get_or_load(("brokers",), adapter.ttl, load)
    except NotSupported:
        found = {}
    if found:
        return found
    md = await adapter.metadata()
    out = {}
    for broker_id, address in md.brokers.items():
        host, port = _split(address)
        out[broker_id] = BrokerNode(id=broker_id, host=host, port=port, rack=None)
    return out


async def broker_configs(
    adapter: KafkaAdapter, broker_ids: Sequence[int], *, fresh: bool = False
) -> dict[int, tuple[ConfigItem, ...]]:
    """Each broker's configs (DescribeConfigs, one broker per request); an empty answer: none described."""
    adapter._notice_client_errors()
    found: dict[int, tuple[ConfigItem, ...]] = {}
    missing = []
    for broker_id in broker_ids:
        hit = None if fresh else adapter.cache.get(("broker-configs", broker_id))
        if hit is None:
            missing.append(broker_id)
        else:
            found[broker_id] = hit
    if not missing:
        return found

    def run() -> dict[int, tuple[ConfigItem, ...]]:
        out: dict[int, tuple[ConfigItem, ...]] = {}
        failures: dict[object, BaseException] = {}
        for start in range(0, len(missing), CONFIG_PARALLELISM):
            deadline = time.monotonic() + adapter.timeout
            futures = {}
            # The protocol takes at most one broker resource per request.
            for broker_id in missing[start : start + CONFIG_PARALLELISM]:
                resource = ConfigResource(ResourceType.BROKER, str(broker_id))
                futures.update(adapter.admin.describe_configs([resource], request_timeout=adapter.timeout))
            results, failed = gather_futures(futures, deadline)
            failures.update(failed)
            for resource, entries in results.items():
                out[int(resource.name)] = configs_from(entries or {})
        if failures and not out:
            raise next(iter(failures.values()))
        return out

    described = await adapter.call(run, what="broker configs", timeout=adapter.timeout * 2)
    for broker_id, items in described.items():
        adapter.cache.put(("broker-configs", broker_id), items, adapter.ttl)
    found.update(described)
    return found


def controller_of(items: Sequence[ConfigItem] | None, broker_id: int, md: ClusterMetadata) -> bool | None:
    """True/False from the broker's ``process.roles``; the metadata's word only without KRaft."""
    if not items:
        return None
    roles = next((c.value for c in items if c.name == "process.roles"), None)
    if roles:
        return "controller" in [r.strip() for r in roles.split(",")]
    if md.controller is None:
        return None
    return md.controller == broker_id


def partition_counts(md: ClusterMetadata) -> tuple[dict[int, int], dict[int, int]]:
    leaders: dict[int, int] = {}
    replicas: dict[int, int] = {}
    for info in md.topics.values():
        for p in info.partitions:
            if p.leader >= 0:
                leaders[p.leader] = leaders.get(p.leader, 0) + 1
            for r in p.replicas:
                replicas[r] = replicas.get(r, 0) + 1
    return leaders, replicas


async def brokers(adapter: KafkaAdapter) -> tuple[list[BrokerInfo], ClusterMetadata, str | None]:
    """Every broker, sorted by id; the note says what could not be read (a table beats an error page)."""
    md = await adapter.metadata()
    found = await nodes(adapter)
    note = None
    configs: Mapping[int, tuple[ConfigItem, ...]] = {}
    try:
        configs = await broker_configs(adapter, sorted(found))
    except StreamdeskError as exc:
        note = f"Broker configs unavailable, so controllers are not known: {exc.message}"
    leaders, replicas = partition_counts(md)
    items = [
        BrokerInfo(
            id=node.id,
            host=node.host,
            port=node.port,
            rack=node.rack,
            controller=controller_of(configs.get(node.id), node.id, md),
            leader_partitions=leaders.get(node.id, 0),
            replica_partitions=replicas.get(node.id, 0),
        )
        for node in sorted(found.values(), key=lambda n: n.id)
    ]
    return items, md, note


async def broker(adapter: KafkaAdapter, broker_id: int) -> tuple[BrokerInfo, tuple[ConfigItem, ...], str | None]:
    """One broker and its configs (or why not); an id the cluster does not know is a 404."""
    md = await adapter.metadata()
    found = await nodes(adapter)
    node = found.get(broker_id)
    if node is None:
        md = await adapter.metadata(fresh=True)
        adapter.invalidate("brokers")
        found = await nodes(adapter)
        node = found.get(broker_id)
    if node is None:
        raise NotFound(f"No broker with id {broker_id} in {adapter.config.name}.")
    note = None
    items: tuple[ConfigItem, ...] = ()
    try:
        items = (await broker_configs(adapter, [broker_id])).get(broker_id, ())
    except NotSupported:
        pass
    except StreamdeskError as exc:
        note = f"Broker configs unavailable: {exc.message}"
    if not items and note is None:
        note = "Broker configs are not supported by this broker (DescribeConfigs answered nothing)."
    leaders, replicas = partition_counts(md)
    info = BrokerInfo(
        id=node.id,
        host=node.host,
        port=node.port,
        rack=node.rack,
        controller=controller_of(items, node.id, md),
        leader_partitions=leaders.get(node.id, 0),
        replica_partitions=replicas.get(node.id, 0),
    )
    return info, items, note
