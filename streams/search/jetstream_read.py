"""Reading a range of a JetStream stream in large batches, for search and export alike.

A stream kept by limits is read with an ordered pull consumer: ephemeral, in memory, one
replica, no acknowledgements, recreated from the next sequence when a delivery goes missing,
so nothing durable is made and nothing is acknowledged. Consuming a work-queue or interest
stream removes what it reads, so those are read by batched direct get (nats-server 2.11+ with
``allow_direct``), else by one message get after another: the stream is never changed.

At most two batches are asked for ahead of what the caller has taken, so memory is bounded by
``2 * max_bytes`` however slowly the caller reads.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError

from streams import jsontext
from streams.clusters import ClusterConfig
from streams.errors import BrokerError, BrokerUnavailable, NotFound, StreamdeskError
from streams.nats.browse import BATCH_GET_MIN_VERSION
from streams.nats.connection import RECONNECT_TIME_WAIT, connect_options, translate
from streams.nats.convert import DIRECT_GET_META, as_dict, as_int, at_least, parse_header_block, parse_time
from streams.nats.jetstream import JS_API, js_error

logger = logging.getLogger("streams.search")

CONSUMER = "ordered consumer"
DIRECT = "direct get"
MSG_GET = "message get"
# Retention policies under which a consumer's reading removes messages.
CONSUMING_CHANGES = ("workqueue", "interest")
# How long a pull request waits on the server for messages it cannot give yet.
PULL_EXPIRES_SECONDS = 30.0
# The ephemeral consumer is removed by the server this long after its last pull request (the
# reader deletes it when it ends; this is for a reader that died). Longer than a slow batch takes.
INACTIVE_SECONDS = 120.0
# A message-get batch ends after this long, so that a slow server still gives progress.
MSG_GET_BATCH_SECONDS = 2.0
MAX_RESTARTS = 3
# 409s that end one pull request (its bytes or its batch are used up), not the read.
REQUEST_ENDED = re.compile(r"Message Size Exceeds MaxBytes|Batch Completed", re.IGNORECASE)

# (seq, subject, time: nanoseconds or RFC 3339 text, headers as the client gave them, data)
Item = tuple[int, str, int | str | None, Any, bytes]


class Idle(Exception):
    """Nothing arrived within the wait: the server, the consumer or the stream may be gone."""


class ReadFailed(Exception):
    """The server ended a read: a deleted consumer, an error status."""


class StreamGone(Exception):
    pass


class ServerGone(Exception):
    pass


def method_for(info: dict[str, Any], server_version: str | None) -> str:
    """How a stream is read: by consumer unless that would change it."""
    config = as_dict(info.get("config"))
    if str(config.get("retention", "limits")) not in CONSUMING_CHANGES:
        return CONSUMER
    if config.get("allow_direct") and at_least(server_version, BATCH_GET_MIN_VERSION):
        return DIRECT
    return MSG_GET


def server_version(nc: NatsClient) -> str | None:
    info = getattr(nc, "_server_info", None) or {}
    return str(info.get("version") or "") or None


def iso(when: int | str | None) -> str | None:
    """A message's time as ISO 8601 (UTC)."""
    if when is None:
        return None
    if isinstance(when, int):
        return datetime.fromtimestamp(when / 1e9, tz=UTC).isoformat()
    parsed = parse_time(when)
    return parsed.isoformat() if parsed else None


def header_list(headers: Any) -> list[tuple[str, bytes | None]]:
    """Headers as nats-py (a dict) or a message get (pairs) gives them, as (name, bytes) pairs."""
    if not headers:
        return []
    if isinstance(headers, dict):
        return [(str(k), str(v).encode()) for k, v in headers.items()]
    return [(str(k), v) for k, v in headers]


async def connect(config: ClusterConfig, timeout: float) -> NatsClient:
    """A connection of the reader's own (on the running loop), failing fast when the server is down."""
    options = connect_options(config, timeout)
    options["name"] = "streamdesk-search"
    options["max_reconnect_attempts"] = 1
    options["reconnect_time_wait"] = 0

    async def quiet(exc: Exception) -> None:
        logger.debug("nats %s (search): %s", config.slug, exc)

    options["error_cb"] = quiet
    try:
        nc = await nats.connect(**options)
    except Exception as exc:
        raise BrokerUnavailable(f"NATS is unreachable: {exc or type(exc).__name__}") from exc
    # A short outage is ridden out (the reader then starts again where it was); a longer one ends the read.
    nc.options["max_reconnect_attempts"] = 3
    nc.options["reconnect_time_wait"] = RECONNECT_TIME_WAIT
    return nc


async def api(nc: NatsClient, subject: str, body: dict[str, Any] | None, timeout: float, what: str) -> dict[str, Any]:
    try:
        reply = await nc.request(JS_API + subject, b"" if body is None else json.dumps(body).encode(), timeout=timeout)
    except NoRespondersError:
        raise BrokerError(f"{what}: JetStream did not answer (no responders)") from None
    except StreamdeskError:
        raise
    except Exception as exc:
        raise translate(exc, what) from exc
    try:
        data = jsontext.loads(reply.data)
    except ValueError:
        raise BrokerError(f"{what}: the server answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise BrokerError(f"{what}: the server answered something that is not an object")
    if data.get("error"):
        raise js_error(data["error"], what)
    return data


@dataclass
class Range:
    stream: str
    start: int
    end: int  # exclusive
    subject: str | None


class StreamReader:
    """[start, end) of a stream (or of one subject filter of it), ``batch`` messages at a time."""

    def __init__(
        self, nc: NatsClient, where: Range, method: str, *, batch: int, max_bytes: int, timeout: float
    ) -> None:
        self.nc = nc
        self.where = where
        self.method = method
        self.batch = batch
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.next_seq = where.start
        self.done = where.start >= where.end
        # Matching messages the server holds after the last one read (None until it says).
        self.pending: int | None = None
        self._buffer: list[Item] = []
        self._ready = asyncio.Event()
        self._failure: str | None = None
        self._sub: Any = None
        self._consumer: str | None = None
        self._credit = 0  # messages asked for and not yet delivered (consumer)
        self._cseq = 0
        self._asking = False  # a direct get request is being answered
        self._ended = False  # a request ended short since the last batch was taken
        self._last = where.start - 1  # the last sequence buffered
        self._restarts = 0

    @property
    def buffered(self) -> int:
        """Messages read and not yet handed out."""
        return len(self._buffer)

    # -- opening, closing, recovering -------------------------------------------------------------

    async def open(self) -> None:
        if self.done:
            return
        if self.method == CONSUMER:
            await self._start_consumer()
        elif self.method == DIRECT:
            self._sub = await self.nc.subscribe(self.nc.new_inbox(), cb=self._on_direct)

    async def close(self) -> None:
        await self._drop_subscription()
        await self._drop_consumer()

    async def _drop_subscription(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception:
                logger.debug("unsubscribing the search inbox failed", exc_info=True)

    async def _drop_consumer(self) -> None:
        name, self._consumer = self._consumer, None
        if name is None or self.nc.is_closed:
            return
        try:
            await self.nc.request(f"{JS_API}CONSUMER.DELETE.{self.where.stream}.{name}", b"", timeout=self.timeout)
        except Exception:
            logger.debug("deleting the search consumer failed", exc_info=True)

    async def recover(self, why: str) -> None:
        """After a silence or a failed read: fail when the stream or the server is gone, else read on."""
        try:
            await api(self.nc, f"STREAM.INFO.{self.where.stream}", None, self.timeout, f"Stream {self.where.stream!r}")
        except NotFound:
            raise StreamGone(f"Stream {self.where.stream} was deleted during the read") from None
        except StreamdeskError as exc:
            raise ServerGone(f"NATS stopped answering ({exc.message})") from None
        self._restarts += 1
        if self._restarts > MAX_RESTARTS:
            raise ServerGone(f"reading stream {self.where.stream} kept failing ({why})")
        self._failure = None
        if self.method == CONSUMER:
            await self._drop_subscription()
            await self._drop_consumer()
            await self._start_consumer()
        else:
            self._asking = False

    # -- taking batches ----------------------------------------------------------------------------

    async def next_batch(self, wait: float) -> list[Item]:
        """The next messages in order: a full batch, or fewer where a request ended short; [] once ``done``."""
        if self.method == MSG_GET:
            return await self._msg_get_batch()
        while not self.done and not self._failure and not self._ended and len(self._buffer) < self.batch:
            self._ready.clear()
            await self._ask()
            try:
                await asyncio.wait_for(self._ready.wait(), wait)
            except TimeoutError:
                if self._buffer:
                    break
                raise Idle(f"nothing arrived for {wait:g} s") from None
        self._ended = False
        if self._failure and not self._buffer:
            raise ReadFailed(self._failure)
        if len(self._buffer) > self.batch:
            # The request asked ahead came in too before this call: hand out one batch at a time.
            taken, self._buffer = self._buffer[: self.batch], self._buffer[self.batch :]
        else:
            taken, self._buffer = self._buffer, []
        if taken:
            self.next_seq = taken[-1][0] + 1
            self._restarts = 0
        if not self.done and not self._failure:
            # Ask for the next batch before the caller works through this one.
            await self._ask()
        return taken

    async def _ask(self) -> None:
        if self.done or self._failure:
            return
        if self.method == CONSUMER:
            while self._consumer is not None and self._credit + len(self._buffer) <= self.batch:
                body = {"batch": self.batch, "max_bytes": self.max_bytes, "expires": int(PULL_EXPIRES_SECONDS * 1e9)}
                subject = f"{JS_API}CONSUMER.MSG.NEXT.{self.where.stream}.{self._consumer}"
                if not await self._send(subject, body):
                    return
                self._credit += self.batch
        elif self.method == DIRECT and not self._asking and len(self._buffer) < self.batch:
            start = self._last + 1
            request: dict[str, Any] = {"batch": self.batch, "max_bytes": self.max_bytes, "seq": start}
            if self.where.subject:
                request["next_by_subj"] = self.where.subject
            self._asking = await self._send(f"{JS_API}DIRECT.GET.{self.where.stream}", request)

    async def _send(self, subject: str, body: dict[str, Any]) -> bool:
        try:
            await self.nc.publish(subject, json.dumps(body).encode(), reply=self._sub.subject)
        except Exception as exc:  # noqa: BLE001 - a closed or lost connection: recover() tells which
            self._failure = f"the connection failed: {exc or type(exc).__name__}"
            self._ready.set()
            return False
        return True

    def _finish(self) -> None:
        self.done = True
        self._ready.set()

    # -- the ordered consumer ---------------------------------------------------------------------

    async def _start_consumer(self) -> None:
        config: dict[str, Any] = {
            "name": f"streamdesk-search-{uuid.uuid4().hex[:12]}",
            "deliver_policy": "by_start_sequence",
            # What is buffered was read in order before any trouble: reading resumes after it.
            "opt_start_seq": max(1, self._last + 1),
            "ack_policy": "none",
            "replay_policy": "instant",
            "mem_storage": True,
            "num_replicas": 1,
            "inactive_threshold": int(INACTIVE_SECONDS * 1e9),
        }
        if self.where.subject:
            config["filter_subject"] = self.where.subject
        self._sub = await self.nc.subscribe(self.nc.new_inbox(), cb=self._on_consumer)
        self._credit = 0
        self._cseq = 0
        info = await api(
            self.nc,
            f"CONSUMER.CREATE.{self.where.stream}.{config['name']}",
            {"stream_name": self.where.stream, "config": config, "action": "create"},
            self.timeout,
            f"Reading stream {self.where.stream!r}",
        )
        self._consumer = str(info.get("name") or config["name"])
        self.pending = as_int(info.get("num_pending"))
        if self.pending == 0:
            self._finish()

    async def _on_consumer(self, msg: Msg) -> None:
        reply = msg.reply
        if not reply:
            self._on_pull_status(msg.headers or {})
            return
        tokens = reply.split(".")
        # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>; since 2.10 a domain
        # and an account hash come after $JS.ACK and a token at the end.
        i = 5 if len(tokens) == 9 else 7
        self._credit -= 1
        if self.done or self._failure:
            return
        try:
            sseq, cseq, stamp, pending = (int(t) for t in tokens[i : i + 4])
        except ValueError:
            self._failure = f"unreadable delivery {reply[:200]!r}"
            self._ready.set()
            return
        if cseq != self._cseq + 1:
            # A delivery went missing: read again from after the last one kept.
            self._failure = f"delivery {self._cseq + 1} went missing"
            self._ready.set()
            return
        self._cseq = cseq
        if sseq >= self.where.end:
            self._finish()
            return
        self._buffer.append((sseq, msg.subject, stamp, msg.headers, msg.data))
        self._last = sseq
        self.pending = pending
        if pending == 0 or sseq + 1 >= self.where.end:
            self._finish()
        elif len(self._buffer) >= self.batch:
            self._ready.set()

    def _on_pull_status(self, headers: dict[str, str]) -> None:
        status = headers.get("Status", "")
        description = headers.get("Description", "")
        if status == "100":  # heartbeat
            return
        if status in ("404", "408") or (status == "409" and REQUEST_ENDED.search(description)):
            # The request ended; the messages it still owed will not come.
            owed = headers.get("Nats-Pending-Messages")
            self._credit = max(0, self._credit - as_int(owed)) if owed is not None else 0
            self._ended = True
        else:
            self._failure = f"the server ended the read: {status} {description}".strip()
        self._ready.set()

    # -- batched direct get -----------------------------------------------------------------------

    async def _on_direct(self, msg: Msg) -> None:
        headers = msg.headers or {}
        seq_text = headers.get("Nats-Sequence")
        if seq_text is None:
            self._asking = False
            self._ended = True
            status = headers.get("Status", "")
            if status == "204":
                if as_int(headers.get("Nats-Num-Pending"), 1) == 0:
                    self._finish()
            elif status == "404":
                self._finish()
            elif status != "408":
                self._failure = f"direct get answered {status} {headers.get('Description', '')}".strip()
            self._ready.set()
            return
        if self.done:
            return
        seq = as_int(seq_text)
        if seq <= self._last:
            return  # the late answer to a request asked again after a silence
        if seq >= self.where.end:
            self._finish()
            return
        own = {k: v for k, v in headers.items() if k.lower() not in DIRECT_GET_META}
        self._buffer.append((seq, headers.get("Nats-Subject", ""), headers.get("Nats-Time-Stamp"), own, msg.data))
        self._last = seq
        pending = headers.get("Nats-Num-Pending")
        if pending is not None:
            self.pending = as_int(pending)
        if seq + 1 >= self.where.end:
            self._finish()
        elif len(self._buffer) >= self.batch:
            self._ready.set()

    # -- one message get after another ------------------------------------------------------------

    async def _msg_get_batch(self) -> list[Item]:
        found: list[Item] = []
        budget = self.max_bytes
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MSG_GET_BATCH_SECONDS
        while not self.done and len(found) < self.batch and budget > 0 and loop.time() < deadline:
            request = {"seq": self.next_seq, "next_by_subj": self.where.subject or ">"}
            what = f"Message {self.next_seq} of stream {self.where.stream!r}"
            try:
                reply = await api(self.nc, f"STREAM.MSG.GET.{self.where.stream}", request, self.timeout, what)
            except NotFound as exc:
                if "stream not found" in exc.message.lower():
                    raise ReadFailed(exc.message) from None
                self.done = True  # nothing at or after the cursor
                break
            except BrokerUnavailable as exc:
                if found:
                    break
                raise Idle(exc.message) from None
            message = as_dict(reply.get("message"))
            seq = as_int(message.get("seq"))
            if seq >= self.where.end or seq < self.next_seq:
                self.done = True
                break
            data = base64.b64decode(message.get("data") or "")
            headers = parse_header_block(base64.b64decode(message.get("hdrs") or ""))
            found.append((seq, str(message.get("subject", "")), str(message.get("time") or "") or None, headers, data))
            budget -= len(data)
            self.next_seq = seq + 1
            if self.next_seq >= self.where.end:
                self.done = True
        return found
