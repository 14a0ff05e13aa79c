"""One stream's subjects, a page at a time, without holding them all as Python objects.

``STREAM.INFO`` with ``subjects_filter`` answers the matching subjects with their
counts, sorted by the server and cut at ``offset``, at most ``JSMaxSubjectDetails``
(100,000) per answer, with the ``total``. A page of keys asks from its own offset,
so late pages are short answers; the answer itself is read as bytes: the names come
one at a time off the subjects object and only those of the page are kept.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

from nats.aio.client import Client as NatsClient

from streams import jsontext
from streams.errors import BrokerError
from streams.nats.convert import as_dict, as_int
from streams.nats.jetstream import JS_API, js_error

# The state's subjects object: the config's "subjects" is an array, and a quote inside any
# string is escaped, so this only matches the key of the object itself.
_SUBJECTS_AT = re.compile(rb'"subjects":\{')
_ENTRY = re.compile(rb'"((?:[^"\\]|\\.)*)":\d+([,}])')
# A paged answer opens with its paging fields (the server writes ApiPaged before the stream info).
_PAGED_HEAD = re.compile(rb'^\{"type":"[^"\\]*","total":(\d+),"offset":(\d+),"limit":(\d+)[,}]')
# Answers read for one substring search at most (of 100,000 subjects each).
MAX_ANSWERS = 100
YIELD_EVERY = 5000


def _name(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return json.loads(f'"{text}"') if "\\" in text else text


def _entries(raw: bytes, pos: int) -> Iterator[bytes]:
    """The subjects object's names as they stand in the JSON text (escapes not undone)."""
    match = _ENTRY.match
    while True:
        found = match(raw, pos)
        if found is None:
            return
        yield found.group(1)
        if found.group(2) == b"}":
            return
        pos = found.end()


class Answer:
    """One STREAM.INFO answer: its paging fields and an iterator over its subject names."""

    def __init__(self, raw: bytes, what: str) -> None:
        self.raw = raw
        self.start: int | None = None
        head = _PAGED_HEAD.match(raw[:300])
        at = _SUBJECTS_AT.search(raw)
        if at is not None and head is not None:
            self.total, self.offset, self.limit = (int(head.group(i)) for i in (1, 2, 3))
            self.start = at.end()
            return
        # No subjects (an error, an empty match) or a layout this reader does not know: parse it whole.
        try:
            data: Any = jsontext.loads(raw)
        except ValueError:
            raise BrokerError(f"{what}: the server answered something that is not JSON") from None
        if not isinstance(data, dict):
            raise BrokerError(f"{what}: the server answered something that is not an object")
        if data.get("error"):
            raise js_error(data["error"], what)
        self._parsed = list(as_dict(as_dict(data.get("state")).get("subjects")))
        self.total = as_int(data.get("total"), len(self._parsed))
        self.offset = as_int(data.get("offset"))
        self.limit = as_int(data.get("limit"), len(self._parsed))

    def names(self) -> Iterator[str]:
        if self.start is None:
            return iter(sorted(self._parsed))
        return (_name(entry) for entry in _entries(self.raw, self.start))

    def holding(self, needle: str) -> Iterator[str | None]:
        """For each name, the name if it holds ``needle``, else None; the JSON text is searched
        first, so only candidates are decoded (an escape can only add characters to the text)."""
        if self.start is None:
            yield from (name if needle in name else None for name in sorted(self._parsed))
            return
        text = needle.encode("utf-8")
        plain = "\\" not in needle and needle.isascii() and needle.isprintable() and not set(needle) & set('"<>&')
        for entry in _entries(self.raw, self.start):
            if plain and text not in entry:
                yield None
                continue
            name = _name(entry)
            yield name if needle in name else None


async def subjects_answer(nc: NatsClient, stream: str, filt: str, offset: int, timeout: float, what: str) -> Answer:
    body = json.dumps({"subjects_filter": filt, "offset": offset}).encode()
    # The server lists and sorts every matching subject for each answer: a large stream takes a while.
    reply = await nc.request(f"{JS_API}STREAM.INFO.{stream}", body, timeout=2 * timeout)
    return Answer(reply.data, what)


async def page_of_subjects(
    nc: NatsClient, stream: str, filt: str, offset: int, count: int, timeout: float, what: str
) -> tuple[list[str], int]:
    """Subjects ``offset`` .. ``offset + count`` (sorted) of those matching ``filt``, and how many match."""
    answer = await subjects_answer(nc, stream, filt, offset, timeout, what)
    chosen: list[str] = []
    for name in answer.names():
        if len(chosen) >= count:
            break
        chosen.append(name)
    return chosen, answer.total


async def search_subjects(
    nc: NatsClient, stream: str, filt: str, needle: str, prefix: str, offset: int, count: int, timeout: float, what: str
) -> tuple[list[str], int]:
    """Subjects whose name after ``prefix`` holds ``needle``: the page from ``offset`` and how many hold it.
    Every matching subject is looked at, an answer at a time; only the page's are kept."""
    chosen: list[str] = []
    matched = 0
    at = 0
    for _ in range(MAX_ANSWERS):
        answer = await subjects_answer(nc, stream, filt, at, timeout, what)
        seen = 0
        for name in answer.holding(needle):
            seen += 1
            if not seen % YIELD_EVERY:
                await asyncio.sleep(0)  # the connection's loop serves everyone else's requests too
            if name is not None and needle in name[len(prefix) :]:
                if offset <= matched < offset + count:
                    chosen.append(name)
                matched += 1
        at += seen
        if seen == 0 or at >= answer.total:
            break
    return chosen, matched
