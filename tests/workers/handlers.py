"""Handlers for the tests, loaded by runconsumers through STREAMDESK_HANDLER_MODULES.

``record`` appends one line per handler call to a file, so a test counts calls from outside
the process (the pause test counts on it). The others fail in the ways the tests need.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from streams.workers.message import Message
from streams.workers.registry import handler

RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "sleep": {"type": "number"}, "fail_first": {"type": "integer"}},
    "required": ["path"],
    "additionalProperties": False,
}


def _line(message: Message) -> bytes:
    where = f"{message.partition}:{message.offset}" if message.topic else f"{message.subject}:{message.seq}"
    return f"{where}:{message.attempt}:{(message.value or b'').decode(errors='replace')}\n".encode()


def _append(path: str, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@handler("test.record", description="Appends a line per call to config.path.", config_schema=RECORD_SCHEMA)
def record(message: Message) -> None:
    config = message.config
    if config.get("sleep"):
        time.sleep(float(config["sleep"]))
    _append(config["path"], _line(message))
    if message.attempt <= int(config.get("fail_first") or 0):
        raise RuntimeError(f"failing attempt {message.attempt} on purpose")


@handler("test.arecord", description="record, as a coroutine.", config_schema=RECORD_SCHEMA)
async def arecord(message: Message) -> None:
    if message.config.get("sleep"):
        await asyncio.sleep(float(message.config["sleep"]))
    _append(message.config["path"], _line(message))


@handler("test.fail", description="Always raises.")
def fail(message: Message) -> None:
    raise ValueError(f"cannot handle {message.value!r}")
