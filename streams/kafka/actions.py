"""Every write to a Kafka cluster: preconditions, the write, its audit record.

Pages, the API, Celery tasks and the consumer runner all call these; none of them
writes through the adapter directly. The adapter drops the cached answers a write
makes stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams import adapters, audit
from streams.clusters import ClusterConfig
from streams.errors import Conflict, InvalidInput, NotSupported
from streams.kafka import acls, configs, offsets, purge
from streams.kafka.acls import Acl, AclFilter
from streams.kafka.names import collides
from streams.kafka.offsets import ResetPlan, ResetRequest

TOPIC_CREATE = "kafka.topic.create"
TOPIC_DELETE = "kafka.topic.delete"
TOPIC_ADD_PARTITIONS = "kafka.topic.add_partitions"
TOPIC_ALTER_CONFIGS = "kafka.topic.alter_configs"
TOPIC_PURGE = "kafka.topic.purge"
GROUP_RESET_OFFSETS = "kafka.group.reset_offsets"
GROUP_DELETE = "kafka.group.delete"
ACL_CREATE = "kafka.acl.create"
ACL_DELETE = "kafka.acl.delete"


async def do_create_topic(
    actor: audit.Actor,
    cluster: ClusterConfig,
    name: str,
    partitions: int,
    replication_factor: int,
    configs: Mapping[str, str],
) -> None:
    adapter = adapters.kafka(cluster)

    async def run() -> None:
        md = await adapter.metadata(fresh=True)
        if name in md.topics:
            raise Conflict(f"Topic {name} already exists.", field="name")
        clash = next((t for t in md.topics if collides(name, t)), None)
        if clash:
            raise Conflict(f"{name} collides with topic {clash}: Kafka treats '.' and '_' alike.", field="name")
        await adapter.create_topic(name, partitions, replication_factor, configs)

    params: dict[str, Any] = {"partitions": partitions, "replication_factor": replication_factor, "configs": configs}
    await audit.perform(actor, TOPIC_CREATE, run, cluster=cluster.slug, target=name, params=params)


async def do_delete_topic(actor: audit.Actor, cluster: ClusterConfig, name: str) -> None:
    adapter = adapters.kafka(cluster)

    async def run() -> None:
        await adapter.topic(name)
        await adapter.delete_topic(name)

    await audit.perform(actor, TOPIC_DELETE, run, cluster=cluster.slug, target=name)


async def do_add_partitions(actor: audit.Actor, cluster: ClusterConfig, topic: str, count: int) -> None:
    adapter = adapters.kafka(cluster)

    async def run() -> None:
        info = await adapter.topic(topic)
        if count <= len(info.partitions):
            raise InvalidInput(f"count must be more than the current {len(info.partitions)} partitions.", field="count")
        await adapter.add_partitions(topic, count)

    await audit.perform(actor, TOPIC_ADD_PARTITIONS, run, cluster=cluster.slug, target=topic, params={"count": count})


async def do_alter_topic_configs(
    actor: audit.Actor, cluster: ClusterConfig, topic: str, change: configs.ConfigChange, *, dry_run: bool
) -> None:
    """Incremental alter (or, with ``dry_run``, the broker's validation of it); both are audited."""
    adapter = adapters.kafka(cluster)
    params: dict[str, Any] = {**change.params, "dry_run": dry_run}

    async def run() -> None:
        await adapter.topic(topic)
        current = await adapter.topic_configs(topic)
        if not current:
            raise NotSupported("Topic configs are not supported by this broker (DescribeConfigs answered nothing).")
        secret = {c.name for c in current if c.sensitive}
        params["set"] = {n: "***" if n in secret else v for n, v in change.set.items()}
        await configs.alter_topic_configs(adapter, topic, change, dry_run=dry_run)

    await audit.perform(actor, TOPIC_ALTER_CONFIGS, run, cluster=cluster.slug, target=topic, params=params)


async def do_purge_topic(actor: audit.Actor, cluster: ClusterConfig, req: purge.PurgeRequest) -> list[purge.Purged]:
    adapter = adapters.kafka(cluster)

    async def run() -> list[purge.Purged]:
        return await purge.purge(adapter, req)

    return await audit.perform(
        actor,
        TOPIC_PURGE,
        run,
        cluster=cluster.slug,
        target=req.topic,
        params=req.params,
        describe=lambda done: ", ".join(f"partition {p.partition} now starts at {p.low}" for p in done),
    )


async def do_reset_offsets(actor: audit.Actor, cluster: ClusterConfig, req: ResetRequest) -> ResetPlan:
    """Plan from fresh answers, refuse while the group has members (409), then commit the plan."""
    adapter = adapters.kafka(cluster)

    async def run() -> ResetPlan:
        plan = await offsets.plan(adapter, req)
        if plan.blocked:
            raise Conflict(plan.blocked)
        await adapter.alter_group_offsets(req.group, {(req.topic, s.partition): s.new for s in plan.steps})
        return plan

    return await audit.perform(
        actor,
        GROUP_RESET_OFFSETS,
        run,
        cluster=cluster.slug,
        target=f"{req.group} @ {req.topic}",
        params=req.params,
        describe=lambda plan: plan.describe(),
    )


async def do_delete_group(actor: audit.Actor, cluster: ClusterConfig, group: str) -> None:
    adapter = adapters.kafka(cluster)

    async def run() -> None:
        await adapter.group(group)
        desc = (await adapter.describe_groups([group], fresh=True)).get(group)
        if desc is not None and desc.active:
            raise Conflict(f"Group {group} has active members (state {desc.state}); stop its consumers first.")
        await adapter.delete_group(group)

    await audit.perform(actor, GROUP_DELETE, run, cluster=cluster.slug, target=group)


async def do_create_acl(actor: audit.Actor, cluster: ClusterConfig, acl: Acl) -> None:
    adapter = adapters.kafka(cluster)

    async def run() -> None:
        await acls.create_acl(adapter, acl)

    await audit.perform(actor, ACL_CREATE, run, cluster=cluster.slug, target=acl.describe(), params=acl.as_api())


async def do_delete_acls(actor: audit.Actor, cluster: ClusterConfig, acl_filter: AclFilter) -> list[Acl]:
    """Delete every ACL the filter matches; the audit record lists them."""
    adapter = adapters.kafka(cluster)

    async def run() -> list[Acl]:
        return await acls.delete_acls(adapter, acl_filter)

    return await audit.perform(
        actor,
        ACL_DELETE,
        run,
        cluster=cluster.slug,
        target=f"{acl_filter.as_params()['resource_type']} {acl_filter.as_params()['name']}",
        params=acl_filter.as_params(),
        describe=lambda deleted: f"{len(deleted)} deleted" + "".join(f"; {a.describe()}" for a in deleted[:20]),
    )
