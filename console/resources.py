"""What each URL names, for the policies: every ``endpoint()`` and ``action()`` declares a ``resource``.

A ``Resource`` says which resource type the URL's kwargs name (``TOPIC``: the ``topic`` kwarg
names a topic of the URL's cluster) and which action a read of it needs (``view`` unless
``needing`` says otherwise, e.g. ``messages`` for a message browser). A write needs the action
its handler declares with ``@writes(..., needs=...)``. A resource without a kwarg is a listing:
reading it needs the action on *some* resource of that type in the cluster (the rows the user
may not view are left out by the handler); a write on it (a create) names its resource by the
body's ``field``. ``lookup`` finds the target in the database (a worker's cluster, a search's
topic). An endpoint that declares nothing is closed to everyone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from streams.errors import NotFound
from streams.policies import (
    CLUSTER,
    CONSUMER_GROUPS,
    KV_BUCKETS,
    MESSAGES,
    OBJECT_BUCKETS,
    PUBLISH,
    SCHEMA_SUBJECTS,
    STREAMS,
    SUBJECTS,
    TOPICS,
    VIEW,
    WORKER_KIND,
)

if TYPE_CHECKING:
    from console.web import Ctx


@dataclass(frozen=True)
class Target:
    """What a request acts on: ``cluster`` None for a listing across clusters, ``name`` None for a listing."""

    cluster: str | None
    kind: str
    name: str | None


Lookup = Callable[["Ctx", bool], Awaitable[Target]]

# Not broker resources: any user some policy applies to; any signed-in user; the Operators role.
ANY_POLICY = "@any"
SIGNED_IN = "@signed-in"
OPERATORS_ROLE = "@operators"


@dataclass(frozen=True)
class Resource:
    kind: str
    arg: str | None = None
    field: str = "name"
    query: str | None = None
    reads: str = VIEW
    lookup: Lookup | None = None

    def needing(self, action: str) -> Resource:
        """The same resource, whose reads need ``action`` (``messages``: browse, tail, search, export)."""
        return replace(self, reads=action)

    @property
    def special(self) -> bool:
        return self.kind.startswith("@")

    async def target(self, ctx: Ctx, write: bool) -> Target:
        if self.lookup is not None:
            return await self.lookup(ctx, write)
        slug = ctx.cluster.slug if ctx.cluster is not None else None
        if self.kind == CLUSTER:
            return Target(slug, CLUSTER, "")
        if self.arg is not None:
            return Target(slug, self.kind, str(ctx.args[self.arg]))
        raw: Any = ctx.query.get(self.query) if self.query else (ctx.body().get(self.field) if write else None)
        name = str(raw).strip() if isinstance(raw, str | int) and str(raw).strip() else None
        return Target(slug, self.kind, name)


# The broker resources, named by the URL kwarg their routes use.
CLUSTER_PAGES = Resource(CLUSTER)
TOPIC = Resource(TOPICS, "topic")
TOPIC_LIST = Resource(TOPICS)
GROUP = Resource(CONSUMER_GROUPS, "group")
GROUP_LIST = Resource(CONSUMER_GROUPS)
STREAM = Resource(STREAMS, "stream")
STREAM_LIST = Resource(STREAMS)
SUBJECT_LIST = Resource(SUBJECTS, field="subject")
KV_BUCKET = Resource(KV_BUCKETS, "bucket")
KV_LIST = Resource(KV_BUCKETS, field="bucket")
OBJECT_BUCKET = Resource(OBJECT_BUCKETS, "bucket")
OBJECT_LIST = Resource(OBJECT_BUCKETS, field="bucket")
SCHEMA_SUBJECT = Resource(SCHEMA_SUBJECTS, "subject")
SCHEMA_LIST = Resource(SCHEMA_SUBJECTS)
# Their data: browse, tail, search, export, download.
TOPIC_MESSAGES = TOPIC.needing(MESSAGES)
STREAM_MESSAGES = STREAM.needing(MESSAGES)
SUBJECT_MESSAGES = Resource(SUBJECTS, query="subject", reads=MESSAGES)
KV_VALUES = KV_BUCKET.needing(MESSAGES)
# The publish forms need "publish" to be shown at all.
TOPIC_PUBLISH = TOPIC.needing(PUBLISH)
SUBJECT_PUBLISH = SUBJECT_LIST.needing(PUBLISH)
# Pages about no broker resource; their handlers show only what the user may view.
ANYONE = Resource(ANY_POLICY)
EVERYONE = Resource(SIGNED_IN)
OPERATORS = Resource(OPERATORS_ROLE)


async def _worker(ctx: Ctx, write: bool) -> Target:
    from streams.workers.actions import get_consumer

    if "name" in ctx.args:
        consumer = await get_consumer(ctx.args["name"])
        return Target(consumer.cluster, WORKER_KIND, consumer.name)
    if not write:
        return Target(None, WORKER_KIND, None)
    body = ctx.body()
    cluster, name = str(body.get("cluster") or ""), str(body.get("name") or "")
    return Target(cluster or None, WORKER_KIND, name or None)


async def _search(ctx: Ctx, write: bool) -> Target:
    from streams.search.actions import get_search

    search = await get_search(ctx.user, ctx.args["search"])
    return Target(search.cluster, TOPICS if search.kind == "kafka" else STREAMS, search.target)


def _published(kind: str) -> str:
    return TOPICS if kind == "kafka" else SUBJECTS


async def _job(ctx: Ctx, write: bool) -> Target:
    from streams.publish.actions import get_job

    if "job" not in ctx.args:
        return Target(None, TOPICS, None)
    try:
        job = await get_job(ctx.args["job"])
    except NotFound:
        return Target(None, TOPICS, None)  # the handler answers 404 (and audits a write's failure)
    return Target(job.cluster, _published(job.kind), job.target)


async def _template(ctx: Ctx, write: bool) -> Target:
    from streams.publish.models import MessageTemplate

    if "template" in ctx.args:
        found = await MessageTemplate.objects.filter(pk=ctx.args["template"]).afirst()
        if found is None:
            return Target(None, TOPICS, None)  # the handler answers 404 (and audits the failure)
        return Target(found.cluster, _published(found.kind), found.target)
    if not write:
        return Target(None, TOPICS, None)
    from streams import adapters

    body = ctx.body()
    config = await adapters.aget_config(str(body.get("cluster") or ""))
    target = str(body.get("target") or body.get("subject") or "").strip()
    return Target(config.slug, _published(config.kind), target or None)


WORKER = Resource(WORKER_KIND, lookup=_worker)
SEARCH = Resource(TOPICS, reads=MESSAGES, lookup=_search)
# Bulk publish jobs and saved messages: seen by those who may view their target, changed by
# those who may publish to it.
JOB = Resource(TOPICS, lookup=_job)
TEMPLATE = Resource(TOPICS, lookup=_template)
