"""Publishing to NATS on the cluster's connection: core publish, request-reply, JetStream with its ack."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError, NoStreamResponseError

from streams.errors import InvalidInput, NoAnswer, NotFound
from streams.nats.adapter import NatsAdapter
from streams.nats.jetstream import js_error
from streams.payloads import DISPLAY_LIMIT, Payload, header_pairs, headers_api
from streams.publish.message import Outgoing

MODES = ("publish", "request", "jetstream")
MSG_ID_HEADER = "Nats-Msg-Id"
MAX_REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class Reply:
    subject: str
    headers: list[tuple[str, Payload]]
    value: Payload
    elapsed_ms: float

    def as_api(self) -> dict[str, Any]:
        return {
            "reply": {
                "subject": self.subject,
                "headers": headers_api(self.headers),
                "value": self.value.as_api(),
                "truncated": self.value.truncated,
                "size": self.value.size,
            },
            "elapsed_ms": round(self.elapsed_ms, 2),
        }


@dataclass(frozen=True)
class PubAck:
    stream: str
    seq: int
    duplicate: bool

    def as_api(self) -> dict[str, Any]:
        return {"stream": self.stream, "seq": self.seq, "duplicate": self.duplicate}


# What nats-py (and the protocol's header block) takes as a name: an HTTP token.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def nats_headers(message: Outgoing, msg_id: str | None) -> dict[str, str] | None:
    """nats-py takes one value per header name; names and values it would refuse (or rewrite) are a 400.

    The client raises on a name that is not a token, which would otherwise surface as an
    unreachable server, and turns CR/LF in a value into spaces, sending something else.
    """
    headers: dict[str, str] = {}
    for name, value in message.headers:
        if not HEADER_NAME.fullmatch(name):
            raise InvalidInput(
                f"headers: {name[:40]!r} is not a valid NATS header name (letters, digits and !#$%&'*+-.^_`|~ only).",
                field="headers",
            )
        if name in headers:
            raise InvalidInput(
                f"headers: {name[:40]} is given twice; NATS headers here take one value each.", field="headers"
            )
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"headers: the value of {name[:40]} is not UTF-8 text.", field="headers") from None
        if "\r" in text or "\n" in text:
            raise InvalidInput(f"headers: the value of {name[:40]} has a line break.", field="headers")
        headers[name] = text
    if msg_id:
        if "\r" in msg_id or "\n" in msg_id:
            raise InvalidInput("msg_id has a line break.", field="msg_id")
        headers[MSG_ID_HEADER] = msg_id
    return headers or None


def _check_payload(nc: NatsClient, message: Outgoing) -> None:
    size = len(message.value or b"") + sum(len(n) + len(v) + 4 for n, v in message.headers)
    if size > nc.max_payload:
        raise InvalidInput(
            f"The message is {size:,} bytes; this NATS server takes at most {nc.max_payload:,}.", field="value"
        )


async def publish(adapter: NatsAdapter, subject: str, message: Outgoing) -> None:
    """Core publish, answered once the server has it (a round trip after the message)."""
    headers = nats_headers(message, None)

    async def work(nc: NatsClient) -> None:
        _check_payload(nc, message)
        await nc.publish(subject, message.value or b"", headers=headers)
        # The server handles a connection's messages in order: an answered request
        # after the message means the message was taken.
        try:
            await nc.request(nc.new_inbox(), b"", timeout=adapter.timeout)
        except NoRespondersError:
            pass

    await adapter.with_client(work, what=f"publish to {subject}")


async def request(adapter: NatsAdapter, subject: str, message: Outgoing, timeout: float) -> Reply:
    """Request-reply: the first reply with its headers and the round-trip time."""
    headers = nats_headers(message, None)

    async def work(nc: NatsClient) -> Reply:
        _check_payload(nc, message)
        started = time.perf_counter()
        try:
            msg = await nc.request(subject, message.value or b"", timeout=timeout, headers=headers)
        except NoRespondersError:
            raise NotFound(f"No responders: nobody subscribes to {subject}.", field="subject") from None
        except NatsTimeoutError:
            raise NoAnswer(
                f"No reply on {subject} within {timeout:g} s (someone listens, but did not answer)."
            ) from None
        elapsed = (time.perf_counter() - started) * 1000
        return Reply(
            subject=msg.subject,
            headers=header_pairs(msg.headers or {}),
            value=Payload.of(msg.data, DISPLAY_LIMIT),
            elapsed_ms=elapsed,
        )

    return await adapter.with_client(work, what=f"request on {subject}", timeout=timeout + 1)


async def jetstream_publish(adapter: NatsAdapter, subject: str, message: Outgoing, msg_id: str | None) -> PubAck:
    """Publish into the stream that takes ``subject`` and answer with its acknowledgement."""
    headers = nats_headers(message, msg_id)

    async def work(nc: NatsClient) -> PubAck:
        _check_payload(nc, message)
        js = nc.jetstream(timeout=adapter.timeout)
        try:
            ack = await js.publish(subject, message.value or b"", headers=headers)
        except NoStreamResponseError:
            raise NotFound(f"No JetStream stream takes subject {subject}.", field="subject") from None
        except APIError as exc:
            raise js_error(
                {"code": exc.code, "err_code": exc.err_code, "description": exc.description}, "JetStream publish"
            ) from None
        return PubAck(stream=ack.stream, seq=ack.seq, duplicate=bool(ack.duplicate))

    return await adapter.with_client(work, what=f"JetStream publish to {subject}")


async def check_target(adapter: NatsAdapter, subject: str, mode: str) -> None:
    """Before a bulk job: the server answers and, for JetStream, some stream takes ``subject``."""
    if mode != "jetstream":
        await adapter.with_client(_connected, what="connect")
        return
    found = await adapter.call(
        lambda: adapter.api("STREAM.NAMES", {"subject": subject}, what="Streams for a subject"), what="stream names"
    )
    if not found.get("streams"):
        raise NotFound(f"No JetStream stream takes subject {subject}.", field="subject")


async def _connected(nc: NatsClient) -> None:
    return None
