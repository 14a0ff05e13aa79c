"""Kafka pages and their JSON twins: topics, messages, consumer groups with lag, offsets.

Lists page before they describe: only the rows on screen get watermarks and
descriptions, except where the order itself needs every group's lag.
"""

from __future__ import annotations

from django.urls import URLPattern, reverse

from console.resources import CLUSTER_PAGES, GROUP, GROUP_LIST, TOPIC, TOPIC_LIST, TOPIC_MESSAGES
from console.templatetags.streamdesk import group_url
from console.views import lag
from console.views.kafka import acls, brokers, configs, groups, messages, topics
from console.views.kafka.common import KIND, PAGE
from console.web import action, endpoint

C = "clusters/<slug:cluster>"


def _topics_url(slug: str) -> str:
    return reverse("kafka-topics", args=[slug])


urlpatterns: list[URLPattern] = [
    *endpoint(
        f"{C}/topics",
        name="kafka-topics",
        resource=TOPIC_LIST,
        kind=KIND,
        template="kafka/topics.html",
        partial="kafka/_topics_table.html",
        page=PAGE,
        get=topics.topics_list,
        post=topics.topic_create,
    ),
    *action(
        f"{C}/new-topic",
        name="kafka-topic-create",
        resource=TOPIC_LIST,
        kind=KIND,
        handler=topics.topic_create,
        redirect=lambda ctx, data: reverse("kafka-topic", args=[ctx.slug, data["name"]]),
    ),
    *endpoint(
        f"{C}/topics/<str:topic>",
        name="kafka-topic",
        resource=TOPIC,
        kind=KIND,
        template="kafka/topic.html",
        page=PAGE,
        get=topics.topic_detail,
        delete=topics.topic_delete,
    ),
    *action(
        f"{C}/topics/<str:topic>/delete",
        name="kafka-topic-delete",
        resource=TOPIC,
        kind=KIND,
        handler=topics.topic_delete,
        redirect=lambda ctx, data: _topics_url(ctx.slug),
    ),
    *endpoint(
        f"{C}/topics/<str:topic>/partitions",
        name="kafka-topic-partitions",
        resource=TOPIC,
        kind=KIND,
        post=topics.topic_partitions,
    ),
    *action(
        f"{C}/topics/<str:topic>/partitions",
        name="kafka-topic-partitions",
        resource=TOPIC,
        kind=KIND,
        handler=topics.topic_partitions,
        redirect=lambda ctx, data: reverse("kafka-topic", args=[ctx.slug, data["name"]]),
    ),
    *endpoint(
        f"{C}/topics/<str:topic>/configs",
        name="kafka-topic-configs",
        resource=TOPIC,
        kind=KIND,
        template="kafka/topic_configs.html",
        form="kafka/_config_outcome.html",
        page=PAGE,
        get=configs.topic_configs,
        patch=configs.topic_configs_change,
    ),
    *endpoint(
        f"{C}/topics/<str:topic>/purge", name="kafka-topic-purge", resource=TOPIC, kind=KIND, post=topics.topic_purge
    ),
    *action(
        f"{C}/topics/<str:topic>/purge",
        name="kafka-topic-purge",
        resource=TOPIC,
        kind=KIND,
        handler=topics.topic_purge,
        redirect=lambda ctx, data: reverse("kafka-topic", args=[ctx.slug, ctx.args["topic"]]),
    ),
    *endpoint(
        f"{C}/brokers",
        name="kafka-brokers",
        resource=CLUSTER_PAGES,
        kind=KIND,
        template="kafka/brokers.html",
        page=PAGE,
        get=brokers.brokers_list,
    ),
    *endpoint(
        f"{C}/brokers/<int:broker>",
        name="kafka-broker",
        resource=CLUSTER_PAGES,
        kind=KIND,
        template="kafka/broker.html",
        page=PAGE,
        get=brokers.broker_detail,
    ),
    *endpoint(
        f"{C}/topics/<str:topic>/messages",
        name="kafka-messages",
        resource=TOPIC_MESSAGES,
        kind=KIND,
        template="kafka/messages.html",
        partial="kafka/_messages.html",
        page=PAGE,
        get=messages.topic_messages,
    ),
    *endpoint(
        f"{C}/groups",
        name="kafka-groups",
        resource=GROUP_LIST,
        kind=KIND,
        template="kafka/groups.html",
        partial="kafka/_groups_table.html",
        page=PAGE,
        get=groups.groups_list,
    ),
    # A group id may contain "/", so the group routes take a path; the /delete, /reset,
    # /history and /status routes come before the detail route, which would otherwise swallow them.
    *action(
        f"{C}/groups/<path:group>/delete",
        name="kafka-group-delete",
        resource=GROUP,
        kind=KIND,
        handler=groups.group_delete,
        redirect=lambda ctx, data: reverse("kafka-groups", args=[ctx.slug]),
    ),
    *endpoint(
        f"{C}/groups/<path:group>/reset", name="kafka-group-reset", resource=GROUP, kind=KIND, post=groups.group_reset
    ),
    *action(
        f"{C}/groups/<path:group>/reset",
        name="kafka-group-reset",
        resource=GROUP,
        kind=KIND,
        handler=groups.group_reset,
        redirect=lambda ctx, data: group_url(ctx.slug, data["group"]),
    ),
    *endpoint(
        f"{C}/groups/<path:group>/history",
        name="kafka-group-history",
        resource=GROUP,
        kind=KIND,
        template="lag/history.html",
        partial="lag/_history.html",
        page=PAGE,
        get=lag.group_history,
    ),
    *endpoint(
        f"{C}/groups/<path:group>/status", name="kafka-group-status", resource=GROUP, kind=KIND, get=lag.group_status
    ),
    *endpoint(
        f"{C}/groups/<path:group>",
        name="kafka-group",
        resource=GROUP,
        kind=KIND,
        template="kafka/group.html",
        page=PAGE,
        get=groups.group_detail,
        delete=groups.group_delete,
        context=lag.group_page_context,
    ),
    *endpoint(
        f"{C}/acls",
        name="kafka-acls",
        resource=CLUSTER_PAGES,
        kind=KIND,
        template="kafka/acls.html",
        page=PAGE,
        get=acls.acls_list,
        post=acls.acl_create,
        delete=acls.acl_delete,
    ),
    *action(
        f"{C}/acls/create",
        name="kafka-acl-create",
        resource=CLUSTER_PAGES,
        kind=KIND,
        handler=acls.acl_create,
        redirect=lambda ctx, data: reverse("kafka-acls", args=[ctx.slug]),
    ),
    *action(
        f"{C}/acls/delete",
        name="kafka-acl-delete",
        resource=CLUSTER_PAGES,
        kind=KIND,
        handler=acls.acl_delete,
        redirect=lambda ctx, data: reverse("kafka-acls", args=[ctx.slug]),
    ),
]
