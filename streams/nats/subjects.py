"""The subjects a NATS server knows about, from the two places that know.

NATS core keeps no list of subjects: a subject exists while someone subscribes
to it or a stream stores messages on it. So the list merges active
subscriptions (monitoring ``subsz``, with the number of messages delivered to
them) and the subjects stored in JetStream streams (stream info with
``subjects_filter``, with the number of messages kept), and each row says which
source it came from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streams.errors import NotSupported, StreamdeskError
from streams.nats.convert import as_int

if TYPE_CHECKING:
    from streams.nats.adapter import NatsAdapter

# Subscriptions the server and client libraries make for themselves; hidden unless asked for.
INTERNAL_PREFIXES = ("$", "_INBOX.", "_R_.")
SUBJECT_MAX_LENGTH = 1024


@dataclass(frozen=True)
class SubjectRow:
    subject: str
    source: str  # "subscription" | "stream"
    count: int
    subscribers: int | None = None
    queue_groups: tuple[str, ...] = ()
    stream: str | None = None

    def as_api(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "source": self.source,
            "count": self.count,
            "subscribers": self.subscribers,
            "queue_groups": list(self.queue_groups),
            "stream": self.stream,
        }


def is_internal(subject: str) -> bool:
    return subject.startswith(INTERNAL_PREFIXES)


def from_subscriptions(subscriptions: Iterable[Any], *, include_internal: bool = False) -> tuple[list[SubjectRow], int]:
    """Group ``subsz`` entries by subject: messages delivered, subscriber count, queue groups.

    Returns the rows and how many internal subscriptions were left out.
    """
    grouped: dict[str, tuple[int, int, set[str]]] = {}
    hidden = 0
    for sub in subscriptions:
        if not isinstance(sub, dict):
            continue
        subject = str(sub.get("subject") or "")
        if not subject:
            continue
        if not include_internal and is_internal(subject):
            hidden += 1
            continue
        msgs, subscribers, groups = grouped.get(subject, (0, 0, set()))
        queue = sub.get("qgroup")
        if queue:
            groups.add(str(queue))
        grouped[subject] = (msgs + as_int(sub.get("msgs")), subscribers + 1, groups)
    rows = [
        SubjectRow(subject=s, source="subscription", count=m, subscribers=n, queue_groups=tuple(sorted(g)))
        for s, (m, n, g) in grouped.items()
    ]
    return rows, hidden


def from_streams(per_stream: dict[str, dict[str, int]]) -> list[SubjectRow]:
    return [
        SubjectRow(subject=subject, source="stream", count=as_int(count), stream=stream)
        for stream, subjects in per_stream.items()
        for subject, count in subjects.items()
    ]


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` is one token, ``>`` one or more trailing tokens."""
    want = pattern.split(".")
    have = subject.split(".")
    for index, part in enumerate(want):
        if part == ">":
            return len(have) > index
        if index >= len(have):
            return False
        if part != "*" and part != have[index]:
            return False
    return len(want) == len(have)


def subjects_overlap(first: str, second: str) -> bool:
    """Whether some literal subject matches both patterns (so a stream on one can hold the other)."""
    left, right = first.split("."), second.split(".")
    for a, b in zip(left, right, strict=False):
        if a == ">" or b == ">":
            return True
        if a != b and a != "*" and b != "*":
            return False
    return len(left) == len(right)


def search(rows: Iterable[SubjectRow], query: str) -> list[SubjectRow]:
    """A query with ``*`` or ``>`` matches as a NATS subject pattern, otherwise as a substring
    (case-insensitive); a wildcard subscription matches a literal query it would receive."""
    query = query.strip()
    if not query:
        return list(rows)
    wildcard = any(part in ("*", ">") for part in query.split("."))
    if wildcard:
        return [r for r in rows if subject_matches(query, r.subject)]
    needle = query.lower()
    found = []
    for row in rows:
        if needle in row.subject.lower():
            found.append(row)
        elif "*" in row.subject or ">" in row.subject:
            if subject_matches(row.subject, query):
                found.append(row)
    return found


def merge(*groups: Iterable[SubjectRow]) -> list[SubjectRow]:
    """Every row, sorted by subject; a subject subscribed to and stored shows once per source."""
    rows = [row for group in groups for row in group]
    rows.sort(key=lambda r: (r.subject, r.source, r.stream or ""))
    return rows


def validate_subject(text: str, *, wildcards: bool = True) -> str | None:
    """None when ``text`` is a usable subject (or filter), else the reason it is not."""
    if not text:
        return "a subject cannot be empty"
    if len(text) > SUBJECT_MAX_LENGTH:
        return f"a subject is at most {SUBJECT_MAX_LENGTH} characters"
    if any(ch.isspace() for ch in text) or "\x00" in text:
        return "a subject cannot contain spaces or control characters"
    parts = text.split(".")
    for index, part in enumerate(parts):
        if not part:
            return "a subject cannot have empty tokens (leading, trailing or double dots)"
        if part in ("*", ">"):
            if not wildcards:
                return "wildcards are not allowed here"
            if part == ">" and index != len(parts) - 1:
                return "'>' may only be the last token"
        elif "*" in part or ">" in part:
            return "wildcards must be whole tokens"
    return None


@dataclass(frozen=True)
class SubjectListing:
    """The merged, searched rows and what limited them."""

    rows: list[SubjectRow]
    monitoring: bool
    monitor_error: str | None
    jetstream: bool
    hidden_internal: int
    subscriptions_total: int | None
    subscriptions_truncated: bool
    truncated: bool

    def facts(self) -> dict[str, Any]:
        return {
            "monitoring": self.monitoring,
            "monitor_error": self.monitor_error,
            "jetstream": self.jetstream,
            "hidden_internal": self.hidden_internal,
            "subscriptions_total": self.subscriptions_total,
            "subscriptions_truncated": self.subscriptions_truncated,
            "truncated": self.truncated,
        }


async def known_subjects(
    adapter: NatsAdapter, query: str, *, source: str | None = None, include_internal: bool = False
) -> SubjectListing:
    """Subjects from subscriptions (monitoring) and from streams, merged and searched.

    Monitoring that fails is reported beside the stored subjects rather than hiding them.
    """
    wildcard = any(part in ("*", ">") for part in query.split("."))
    monitored = bool(adapter.config.monitor_url)

    async def subscriptions() -> tuple[list[dict[str, Any]], int] | None:
        return await adapter.subscriptions() if monitored and source != "stream" else None

    async def stored() -> tuple[dict[str, dict[str, int]], bool] | None:
        if source == "subscription":
            return None
        try:
            # A subject pattern goes to the server as the filter; a substring needs every subject.
            return await adapter.stream_subjects(query if wildcard else ">")
        except NotSupported:
            return None

    per_stream, subs = await asyncio.gather(stored(), subscriptions(), return_exceptions=True)
    if isinstance(per_stream, BaseException):
        raise per_stream
    monitor_error = None
    if isinstance(subs, BaseException):
        if not isinstance(subs, StreamdeskError):
            raise subs
        monitor_error, subs = subs.message, None
    sub_rows, hidden = from_subscriptions(subs[0], include_internal=include_internal) if subs else ([], 0)
    stream_subjects, stored_truncated = per_stream or ({}, False)
    return SubjectListing(
        rows=search(merge(sub_rows, from_streams(stream_subjects)), query),
        monitoring=monitored,
        monitor_error=monitor_error,
        jetstream=per_stream is not None or source == "subscription",
        hidden_internal=hidden,
        subscriptions_total=subs[1] if subs else None,
        subscriptions_truncated=bool(subs and subs[1] > len(subs[0])),
        truncated=stored_truncated,
    )
