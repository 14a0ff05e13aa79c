"""The JetStream stream upstream: an ordered consumer, done as the newer clients do it.

An ephemeral pull consumer (no acks, memory storage, one replica, a short ``inactive_threshold`` so
the server deletes it by itself when this process dies, even by kill -9), pulled one
batch at a time while the web loop keeps up. The consumer sequence of every delivery
is checked; a gap, a deleted consumer or missed heartbeats recreate it from the next
stream sequence, so an outage or a server restart loses nothing the stream still holds.
A replay (anything but "now": an upstream of its own) pulls no more than its socket's
queue has room for, so a slow or paused tab makes it wait instead of dropping.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from django.conf import settings
from nats.aio.msg import Msg

from streams.errors import NotFound, NotSupported
from streams.nats.convert import as_dict, as_int, rfc3339
from streams.nats.jetstream import valid_name
from streams.tail.messages import Item, nats_item
from streams.tail.nats import WATCH_SECONDS, NatsUpstream
from streams.tail.spec import Start
from streams.tail.upstream import ASSUMED_MESSAGE_BYTES, Started, UpstreamEvent

logger = logging.getLogger("streams.tail")

PULL_BATCH = 1000
PULL_EXPIRES = 5.0
HEARTBEAT = 1.0


class JetStreamUpstream(NatsUpstream):
    drops_when_behind = False

    def begin(self) -> None:
        self.consumer = ""
        self.inbox = ""
        self.expected = 1
        self.last_seq: int | None = None
        self.first_fields: dict[str, Any] = {}
        self.pulling = False
        self.outstanding = 0
        self.last_heard = time.monotonic()
        self.recreating = False
        self.request = 0
        self._unbounded_once = False
        self._retry_handle: asyncio.TimerHandle | None = None
        super().begin()

    @property
    def what(self) -> str:
        return f"tail stream {self.spec.name}"

    @property
    def label(self) -> str:
        return f"Stream {self.spec.name}"

    @property
    def stream(self) -> str:
        """The stream read (a Key-Value watch reads its bucket's)."""
        return self.spec.name

    @property
    def filter_subject(self) -> str | None:
        return self.spec.subject

    async def _info(self) -> dict[str, Any]:
        stream = self.stream
        if not valid_name(stream):
            raise NotFound(f"No stream named {stream[:80]!r}: that is not a valid stream name.", field="name")
        try:
            return await self.conn.api(f"STREAM.INFO.{stream}", what=f"Stream {stream!r}")
        except NotFound:
            raise NotFound(f"No stream named {stream!r} on {self.config.name}.", field="name") from None

    async def _open(self) -> Started:
        stream = self.stream
        self.nc = await self.conn._client()
        info = await self._info()
        if str(as_dict(info.get("config")).get("retention", "")).lower() == "workqueue":
            # A consumer takes messages off a work queue: tailing one would eat its consumers' messages.
            raise NotSupported(
                f"Stream {stream} is a work queue: a live tail would take its messages away from its consumers. "
                "Browse it with the message browser instead.",
                field="name",
            )
        state = as_dict(info.get("state"))
        first_seq, last_seq = as_int(state.get("first_seq")), as_int(state.get("last_seq"))
        fields, start_seq = self._start_fields(first_seq, last_seq)
        self.first_fields = fields
        self._watch_started()
        try:
            self.inbox = self.nc.new_inbox()
            self.sub = await self._subscribe(f"{self.inbox}.*")
            await self._create(fields)
        except BaseException:
            self.stopped = True
            await self._close()
            raise
        self._pull()
        return Started({"seq": start_seq})

    def _start_fields(self, first_seq: int, last_seq: int) -> tuple[dict[str, Any], int | None]:
        start = self.spec.start
        if start.kind == "beginning":
            return {"deliver_policy": "all"}, max(first_seq, 1)
        if start.kind == "last":
            seq = max(first_seq, last_seq - (start.number or 0) + 1, 1)
            return {"deliver_policy": "by_start_sequence", "opt_start_seq": seq}, seq
        if start.kind == "seq":
            seq = start.number or 1
            return {"deliver_policy": "by_start_sequence", "opt_start_seq": seq}, seq
        if start.kind == "time":
            assert start.moment is not None
            return {"deliver_policy": "by_start_time", "opt_start_time": rfc3339(start.moment)}, None
        self.last_seq = last_seq
        return {"deliver_policy": "new"}, last_seq + 1

    async def _create(self, start_fields: dict[str, Any]) -> None:
        stream = self.stream
        name = f"sdtail_{uuid.uuid4().hex[:16]}"
        config: dict[str, Any] = {
            "name": name,
            "description": "Streamdesk live tail (ephemeral)",
            "ack_policy": "none",
            "replay_policy": "instant",
            "mem_storage": True,
            "num_replicas": 1,
            "inactive_threshold": int(settings.TAIL_JS_INACTIVE_SECONDS * 1e9),
            "max_waiting": 16,
            **start_fields,
        }
        if self.filter_subject:
            config["filter_subject"] = self.filter_subject
        body = {"stream_name": stream, "config": config, "action": "create"}
        await self.conn.api(f"CONSUMER.CREATE.{stream}.{name}", body, what=f"Tail consumer on {stream!r}")
        self.consumer = name
        self.expected = 1
        self.pulling = False
        self.last_heard = time.monotonic()

    def _pull(self) -> None:
        if self.stopped or self.pulling or self.recreating or self.nc is None or self.nloop is None:
            return
        batch = self.batch_size(PULL_BATCH)
        room = self.room()
        if batch < 1:
            if self._retry_handle is None:
                self._retry_handle = self.nloop.call_later(0.01, self._retry_pull)
            return
        self.pulling = True
        self.request += 1
        self.outstanding = batch
        self.last_heard = time.monotonic()
        body: dict[str, Any] = {
            "batch": batch,
            "expires": int(PULL_EXPIRES * 1e9),
            "idle_heartbeat": int(HEARTBEAT * 1e9),
        }
        if room is not None and not self._unbounded_once:
            # A replay asks for no more than its socket's queue takes (JSON is about 3x the raw bytes).
            body["max_bytes"] = max(64 * 1024, (room[1] - self.unhanded() * ASSUMED_MESSAGE_BYTES) // 3)
        self._unbounded_once = False
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}"
        self.nloop.create_task(self._publish(subject, json.dumps(body).encode(), f"{self.inbox}.{self.request}"))

    def _retry_pull(self) -> None:
        self._retry_handle = None
        self._pull()

    async def _publish(self, subject: str, body: bytes, reply: str) -> None:
        assert self.nc is not None
        try:
            # Each request its own reply subject, so a late status of an earlier one is told apart.
            await self.nc.publish(subject, body, reply=reply)
        except Exception:  # noqa: BLE001 - disconnected: the watch pulls again once it is back
            self.pulling = False

    async def _on_msg(self, msg: Msg) -> None:
        self.last_heard = time.monotonic()
        reply = msg.reply or ""
        if not reply.startswith("$JS.ACK."):
            self._status(msg)
            return
        tokens = reply.split(".")
        if len(tokens) == 9:
            consumer, sseq, cseq, stamp = tokens[3], tokens[5], tokens[6], tokens[7]
        elif len(tokens) >= 11:
            consumer, sseq, cseq, stamp = tokens[5], tokens[7], tokens[8], tokens[9]
        else:
            return
        if consumer != self.consumer or self.recreating:
            return  # a late delivery from a consumer already replaced
        if int(cseq) != self.expected:
            self._recreate()
            return
        self.expected += 1
        seq = int(sseq)
        self.last_seq = seq
        self._collect((msg.subject, msg.data, msg.headers, seq, int(stamp)))
        self.outstanding -= 1
        if self.outstanding <= 0:
            self.pulling = False
            self._pull()

    def _status(self, msg: Msg) -> None:
        headers = msg.headers or {}
        code = headers.get("Status", "")
        if code == "100":
            return  # idle heartbeat: the request and the consumer are alive
        if msg.subject != f"{self.inbox}.{self.request}":
            return  # about a request already done with
        if code in ("404", "408"):
            self.pulling = False
            self._pull()
        elif code == "503" or (code == "409" and "deleted" in headers.get("Description", "").lower()):
            self._recreate()
        elif code == "409" and "maxbytes" in headers.get("Description", "").lower().replace(" ", ""):
            # One message is larger than the room asked for: take it anyway rather than stall.
            self._unbounded_once = True
            self.pulling = False
            self._pull()
        elif code:
            self.pulling = False
            self._pull()

    def _item(self, entry: tuple[Any, ...]) -> Item:
        subject, data, headers, seq, stamp = entry
        return nats_item(
            subject,
            data,
            headers,
            reply=None,
            seq=seq,
            stamp_ns=stamp,
            cluster=self.config,
            rules=self.mask_rules(subject),
        )

    def _check(self) -> None:
        if self.recreating or self.nc is None or not self.nc.is_connected:
            return
        if self.pulling and time.monotonic() - self.last_heard > 3 * HEARTBEAT + WATCH_SECONDS:
            self._recreate()  # neither messages nor heartbeats: the consumer is gone
        elif not self.pulling:
            self._pull()

    def _reconnected(self) -> None:
        self.pulling = False
        self._pull()

    def _resume(self) -> Start | None:
        return Start("seq", number=self.last_seq + 1) if self.private and self.last_seq is not None else None

    def _retry_text(self) -> str:
        return "the tail goes on from where it stopped when it is back."

    def _back_text(self, gap: float) -> str:
        where = f" from sequence {self.last_seq + 1}" if self.last_seq is not None else ""
        return f"NATS is back after {gap:.1f} s; the tail goes on{where}, nothing the stream holds is missed."

    def _recreate(self) -> None:
        if self.recreating or self.stopped or self.nloop is None:
            return
        self.recreating = True
        self.nloop.create_task(self._recreate_now())

    async def _recreate_now(self) -> None:
        old = self.consumer
        await self._delete(old)
        fields = (
            {"deliver_policy": "by_start_sequence", "opt_start_seq": self.last_seq + 1}
            if self.last_seq is not None
            else self.first_fields
        )
        delay = 0.5
        while not self.stopped:
            try:
                await self._create(fields)
                break
            except NotFound as exc:
                self.report(UpstreamEvent("ended", f"{self.label} is gone: {exc.message}"))
                self.stopped = True
                await self._close()
                return
            except Exception:
                logger.debug("tail %s: recreating the consumer failed", self.spec.name, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.recreating = False
        self._pull()

    async def _delete(self, name: str) -> None:
        if not name:
            return
        try:
            await self.conn.api(f"CONSUMER.DELETE.{self.stream}.{name}", what="delete tail consumer")
        except Exception:
            logger.debug("tail %s: deleting consumer %s failed", self.spec.name, name, exc_info=True)

    async def _release(self) -> None:
        if self._retry_handle is not None:
            self._retry_handle.cancel()
        await self._delete(self.consumer)
