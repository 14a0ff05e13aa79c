"""NATS pages and their JSON twins: server, connections, subjects, streams, the message
browser, consumers, and the writes (create, edit, purge, delete, pause, resume)."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, reverse

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
        kind=KIND,
        template="nats/server.html",
        page=tab("server"),
        get=server.server_data,
    ),
    *endpoint(
        f"{C}/connections",
        name="nats-connections",
        kind=KIND,
        template="nats/connections.html",
        partial="nats/_connections.html",
        page=tab("connections"),
        get=server.connections_data,
    ),
    *endpoint(
        f"{C}/subjects",
        name="nats-subjects",
        kind=KIND,
        template="nats/subjects.html",
        partial="nats/_subjects.html",
        page=tab("subjects"),
        get=subjects.subjects_data,
    ),
    *endpoint(
        f"{C}/streams",
        name="nats-streams",
        kind=KIND,
        template="nats/streams.html",
        partial="nats/_streams.html",
        page=tab("streams"),
        get=streams.streams_data,
        post=streams.stream_create,
    ),
    *action(
        f"{C}/streams/create", name="nats-stream-create", kind=KIND, handler=streams.stream_create, redirect=_to_stream
    ),
    *action(f"{S}/edit", name="nats-stream-edit", kind=KIND, handler=streams.stream_update, redirect=_to_stream),
    *endpoint(
        S,
        name="nats-stream",
        kind=KIND,
        template="nats/stream.html",
        page=tab("streams"),
        get=streams.stream_data,
        put=streams.stream_update,
        delete=streams.stream_delete,
    ),
    *endpoint(f"{S}/purge", name="nats-stream-purge", kind=KIND, post=streams.stream_purge),
    *action(f"{S}/purge", name="nats-stream-purge", kind=KIND, handler=streams.stream_purge, redirect=_to_stream),
    *action(f"{S}/delete", name="nats-stream-delete", kind=KIND, handler=streams.stream_delete, redirect=_to_streams),
    *endpoint(
        f"{S}/messages",
        name="nats-messages",
        kind=KIND,
        template="nats/messages.html",
        partial="nats/_messages.html",
        page=tab("streams"),
        get=messages.messages_data,
    ),
    *endpoint(
        f"{S}/messages/<int:seq>",
        name="nats-message",
        kind=KIND,
        template="nats/message.html",
        page=tab("streams"),
        get=messages.message_data,
        delete=messages.message_delete,
    ),
    *action(
        f"{S}/messages/<int:seq>/delete",
        name="nats-message-delete",
        kind=KIND,
        handler=messages.message_delete,
        redirect=_to_messages,
    ),
    *endpoint(
        f"{S}/consumers",
        name="nats-consumers",
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
        kind=KIND,
        handler=consumers.consumer_create,
        redirect=_to_consumer,
    ),
    *action(
        f"{S}/consumers/<str:name>/edit",
        name="nats-consumer-edit",
        kind=KIND,
        handler=consumers.consumer_update,
        redirect=_to_consumer,
    ),
    *action(
        f"{S}/consumers/<str:name>/delete",
        name="nats-consumer-delete",
        kind=KIND,
        handler=consumers.consumer_delete,
        redirect=_to_consumers,
    ),
    *endpoint(
        f"{S}/consumers/<str:name>",
        name="nats-consumer",
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
        kind=KIND,
        template="lag/history.html",
        partial="lag/_history.html",
        page=tab("streams"),
        get=lag.consumer_history,
    ),
    *endpoint(f"{S}/consumers/<str:name>/status", name="nats-consumer-status", kind=KIND, get=lag.consumer_status),
    *endpoint(f"{S}/consumers/<str:name>/pause", name="nats-consumer-pause", kind=KIND, post=consumers.consumer_pause),
    *action(
        f"{S}/consumers/<str:name>/pause",
        name="nats-consumer-pause",
        kind=KIND,
        handler=consumers.consumer_pause,
        redirect=_to_consumer,
    ),
    *endpoint(
        f"{S}/consumers/<str:name>/resume", name="nats-consumer-resume", kind=KIND, post=consumers.consumer_resume
    ),
    *action(
        f"{S}/consumers/<str:name>/resume",
        name="nats-consumer-resume",
        kind=KIND,
        handler=consumers.consumer_resume,
        redirect=_to_consumer,
    ),
]
