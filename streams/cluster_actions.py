"""Every change to a cluster defined in the database (the admin makes them): the write, its audit
record, and the adapters' cluster list re-read so that pages and runners see it at once.

The audit names the fields that changed, never their values: several hold credentials.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async

from streams import adapters, audit
from streams.models import Cluster

CLUSTER_CREATE = "cluster.create"
CLUSTER_UPDATE = "cluster.update"
CLUSTER_DELETE = "cluster.delete"


async def do_save_cluster(actor: audit.Actor, cluster: Cluster, changed: list[str], *, created: bool) -> Cluster:
    """Saves ``cluster`` (checked by the caller's form: servers, monitor and webhook URLs)."""

    async def run() -> Cluster:
        await sync_to_async(cluster.save)()
        await sync_to_async(adapters.clusters)(fresh=True)
        return cluster

    return await audit.perform(
        actor,
        CLUSTER_CREATE if created else CLUSTER_UPDATE,
        run,
        cluster=cluster.slug,
        target=cluster.slug,
        params={"kind": cluster.kind, "fields": sorted(changed)},
        describe=lambda c: "created" if created else f"changed {', '.join(sorted(changed)) or 'nothing'}",
    )


async def do_delete_cluster(actor: audit.Actor, cluster: Cluster) -> None:
    slug = cluster.slug

    async def run() -> None:
        await sync_to_async(cluster.delete)()
        await sync_to_async(adapters.clusters)(fresh=True)

    await audit.perform(actor, CLUSTER_DELETE, run, cluster=slug, target=slug, params={"kind": cluster.kind})
