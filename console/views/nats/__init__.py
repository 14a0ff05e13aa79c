"""NATS pages and their JSON twins: server, connections, subjects, streams, the message
browser, consumers, and the writes (create, edit, purge, delete, pause, resume)."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, reverse

from console.resources import CLUSTER_PAGES, STREAM, STREAM_LIST, STREAM_MESSAGES, SUBJECT_LIST
from console.views import lag
from console.views.nats import consumers, messages, server, streams, subjects
from console.views.nats.common import KIND, tab
from console.web import Ctx, action, endpoint

C = "clusters/<slug:cluster>"
S = f"{C}/streams/<str:stream>"


def _to_stream(ctx: Ctx, data: dict[str, Any]) -> str:
    return reverse("nats-stream", args=[ctx.slug, ctx.args["stream"]])


def _to_streams(ctx: Ctx, data: dict[str, Any]) -> str:
    return reverse("nats-streams", args=[ctx.slug])


def _to_messages(ctx: Ctx, data: dict[str, Any]) -> str:
    return f"{reverse('nats-messages', args=[ctx.slug, ctx.args['stream']])}?seq={ctx.args['seq']}"


def _to_consumers(ctx: Ctx, data: dict[str, Any]) -> str:
    return reverse("nats-consumers", args=[ctx.slug, ctx.args["stream"]])


def _to_consumer(ctx: Ctx, data: dict[str, Any]) -> str:
    return reverse("nats-consumer", args=[ctx.slug, ctx.args["stream"], ctx.args["name"]])


urlpatterns: list[URLPattern] = [
    *endpoint(
        f"{C}/server",
        name="nats-server",
        resource=CLUSTER_PAGES,
        kind=KIND,
        template="nats/server.html",
        page=tab("server"),
        get=server.server_data,
    ),
    *endpoint(
        f"{C}/connections",
        name="nats-connections",
        resource=CLUSTER_PAGES,
        kind=KIND,
        template="nats/connections.html",
        partial="nats/_connections.html",
        page=tab("connections"),
        get=server.connections_data,
    ),
    *endpoint(
        f"{C}/subjects",
        name="nats-subjects",
        resource=SUBJECT_LIST,
        kind=KIND,
        template="nats/subjects.html",
        partial="nats/_subjects.html",
        page=tab("subjects"),
        get=subjects.subjects_data,
    ),
    *endpoint(
        f"{C}/streams",
        name="nats-streams",
        resource=STREAM_LIST,
        kind=KIND,
        template="nats/streams.html",
        partial="nats/_streams.html",
        page=tab("streams"),
        get=streams.streams_data,
        post=streams.stream_create,
    ),
    *action(
        f"{C}/streams/create",
        name="nats-stream-create",
        resource=STREAM_LIST,
        kind=KIND,
        handler=streams.stream_create,
        redirect=_to_stream,
    ),
    *action(
        f"{S}/edit",
        name="nats-stream-edit",
        resource=STREAM,
        kind=KIND,
        handler=streams.stream_update,
        redirect=_to_stream,
    ),
    *endpoint(
        S,
        name="nats-stream",
        resource=STREAM,
        kind=KIND,
        template="nats/stream.html",
        page=tab("streams"),
        get=streams.stream_data,
        put=streams.stream_update,
        delete=streams.stream_delete,
    ),
    *endpoint(f"{S}/purge", name="nats-stream-purge", resource=STREAM, kind=KIND, post=streams.stream_purge),
    *action(
        f"{S}/purge",
        name="nats-stream-purge",
        resource=STREAM,
        kind=KIND,
        handler=streams.stream_purge,
        redirect=_to_stream,
    ),
    *action(
        f"{S}/delete",
        name="nats-stream-delete",
        resource=STREAM,
        kind=KIND,
        handler=streams.stream_delete,
        redirect=_to_streams,
    ),
    *endpoint(
        f"{S}/messages",
        name="nats-messages",
        resource=STREAM_MESSAGES,
        kind=KIND,
        template="nats/messages.html",
        partial="nats/_messages.html",
        page=tab("streams"),
        get=messages.messages_data,
    ),
    *endpoint(
        f"{S}/messages/<int:seq>",
        name="nats-message",
        resource=STREAM_MESSAGES,
        kind=KIND,
        template="nats/message.html",
        page=tab("streams"),
        get=messages.message_data,
        delete=messages.message_delete,
    ),
    *action(
        f"{S}/messages/<int:seq>/delete",
        name="nats-message-delete",
        resource=STREAM_MESSAGES,
        kind=KIND,
        handler=messages.message_delete,
        redirect=_to_messages,
    ),
    *endpoint(
        f"{S}/consumers",
        name="nats-consumers",
        resource=STREAM,
        kind=KIND,
        template="nats/consumers.html",
        partial="nats/_consumers.html",
        page=tab("streams"),
        get=consumers.consumers_data,
        post=consumers.consumer_create,
    ),
    *action(
        f"{S}/consumers/create",
        name="nats-consumer-create",
        resource=STREAM,
        kind=KIND,
        handler=consumers.consumer_create,
        redirect=_to_consumer,
    ),
    *action(
        f"{S}/consumers/<str:name>/edit",
        name="nats-consumer-edit",
        resource=STREAM,
        kind=KIND,
        handler=consumers.consumer_update,
        redirect=_to_consumer,
    ),
    *action(
        f"{S}/consumers/<str:name>/delete",
        name="nats-consumer-delete",
        resource=STREAM,
        kind=KIND,
        handler=consumers.consumer_delete,
        redirect=_to_consumers,
    ),
    *endpoint(
        f"{S}/consumers/<str:name>",
        name="nats-consumer",
        resource=STREAM,
        kind=KIND,
        template="nats/consumer.html",
        page=tab("streams"),
        get=consumers.consumer_data,
        put=consumers.consumer_update,
        delete=consumers.consumer_delete,
        context=lag.consumer_page_context,
    ),
    *endpoint(
        f"{S}/consumers/<str:name>/history",
        name="nats-consumer-history",
        resource=STREAM,
        kind=KIND,
        template="lag/history.html",
        partial="lag/_history.html",
        page=tab("streams"),
        get=lag.consumer_history,
    ),
    *endpoint(
        f"{S}/consumers/<str:name>/status",
        name="nats-consumer-status",
        resource=STREAM,
        kind=KIND,
        get=lag.consumer_status,
    ),
    *endpoint(
        f"{S}/consumers/<str:name>/pause",
        name="nats-consumer-pause",
        resource=STREAM,
        kind=KIND,
        post=consumers.consumer_pause,
    ),
    *action(
        f"{S}/consumers/<str:name>/pause",
        name="nats-consumer-pause",
        resource=STREAM,
        kind=KIND,
        handler=consumers.consumer_pause,
        redirect=_to_consumer,
    ),
    *endpoint(
        f"{S}/consumers/<str:name>/resume",
        name="nats-consumer-resume",
        resource=STREAM,
        kind=KIND,
        post=consumers.consumer_resume,
    ),
    *action(
        f"{S}/consumers/<str:name>/resume",
        name="nats-consumer-resume",
        resource=STREAM,
        kind=KIND,
        handler=consumers.consumer_resume,
        redirect=_to_consumer,
    ),
]
