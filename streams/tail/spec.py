"""What a tail watches and where it starts: the subscribe frame of the WebSocket contract, checked.

A spec names a source (Kafka topic, NATS subject pattern, JetStream stream, Key-Value
bucket), an optional partition list (Kafka), subject filter (JetStream) or key pattern
(Key-Value), a start position and a substring filter. Upstreams are shared by everyone whose spec has the same
``upstream_key``: only tails that start "now" share one, because a replay's history
belongs to the tab that asked for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from streams.errors import InvalidInput
from streams.nats.kv import BUCKET_RE, PATTERN_RE
from streams.nats.subjects import validate_subject

SOURCES = ("topic", "subject", "stream", "kv")
SOURCE_KIND = {"topic": "kafka", "subject": "nats", "stream": "nats", "kv": "nats"}
FILTER_MAX_LENGTH = 256
NAME_MAX_LENGTH = 1024
LAST_MAX = 100_000
MAX_POSITION = 2**63 - 1


@dataclass(frozen=True)
class Start:
    """Where a tail starts: ``now``, ``beginning``, ``last`` N, an ``offset``, a ``seq``, a ``time``,
    or per-partition ``offsets`` (how a reconnecting client resumes a Kafka tail)."""

    kind: str
    number: int | None = None
    moment: datetime | None = None
    offsets: tuple[tuple[int, int], ...] = ()

    def as_api(self) -> str | dict[str, Any]:
        if self.kind in ("now", "beginning"):
            return self.kind
        if self.kind == "time":
            assert self.moment is not None
            return {"time": self.moment.isoformat()}
        if self.kind == "offsets":
            return {"offsets": {str(p): o for p, o in self.offsets}}
        return {self.kind: self.number}

    def describe(self, source: str = "") -> str:
        if self.kind == "now":
            return "from now"
        if self.kind == "beginning":
            return "from the beginning"
        if self.kind == "last":
            return f"the last {self.number}" + (" of each partition" if source == "topic" else "")
        if self.kind == "time":
            assert self.moment is not None
            return f"from {self.moment.isoformat()}"
        if self.kind == "offsets":
            return "from " + ", ".join(f"p{p}@{o}" for p, o in self.offsets)
        return f"from {self.kind} {self.number}"


def is_system_subject(subject: str) -> bool:
    """Replies to requests (``_INBOX.``) and the server's own subjects (``$JS.API``, ``$SYS``, ...):
    a core NATS tail shows them to operators only, because replies carry other users' answers."""
    return subject.startswith("$") or subject == "_INBOX" or subject.startswith("_INBOX.")


def names_system_subjects(pattern: str) -> bool:
    """Whether a subject pattern asks for system subjects by name (its first token), not by a wildcard."""
    return is_system_subject(pattern.split(".", 1)[0])


NOW = Start("now")
STARTS_BY_SOURCE = {
    "topic": ("now", "beginning", "last", "offset", "time", "offsets"),
    "stream": ("now", "beginning", "last", "seq", "time"),
    "subject": ("now",),
    # A watch: every current value ("beginning") or changes only; a reconnecting page resumes by revision.
    "kv": ("now", "beginning", "seq"),
}


@dataclass(frozen=True)
class TailSpec:
    source: str
    name: str
    start: Start = NOW
    partitions: tuple[int, ...] | None = None
    subject: str | None = None
    filter: str | None = None
    keys: str | None = None

    @property
    def kind(self) -> str:
        return SOURCE_KIND[self.source]

    @property
    def needle(self) -> bytes | None:
        return self.filter.encode("utf-8") if self.filter else None

    def upstream_key(self, slug: str) -> tuple[Any, ...]:
        """Specs with equal keys share one upstream; a replay gets a key of its own."""
        start: tuple[Any, ...] = ("now",) if self.start.kind == "now" else ("own", uuid.uuid4().hex)
        return (slug, self.source, self.name, self.partitions, self.subject, self.keys, *start)

    def starting(self, start: Start) -> TailSpec:
        return replace(self, start=start)

    def as_api(self) -> dict[str, Any]:
        """The subscribe frame that asks for this spec."""
        frame: dict[str, Any] = {
            "action": "subscribe",
            "source": self.source,
            "name": self.name,
            "from": self.start.as_api(),
            "partitions": list(self.partitions) if self.partitions is not None else None,
            "filter": self.filter,
        }
        if self.source == "stream":
            frame["subject"] = self.subject
        if self.source == "kv":
            frame["keys"] = self.keys
        return frame


def _int(value: Any, field: str, *, minimum: int = 0, maximum: int = MAX_POSITION) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be an integer.", field=field)
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{field} must be between {minimum} and {maximum}.", field=field)
    return value


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput("from.time must be an ISO-8601 time.", field="from")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"from.time is not an ISO-8601 time: {value[:40]!r}.", field="from") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_start(value: Any, source: str) -> Start:
    allowed = STARTS_BY_SOURCE[source]
    if value is None or value == "now":
        return NOW
    if value == "beginning":
        start = Start("beginning")
    elif isinstance(value, dict) and len(value) == 1:
        kind, raw = next(iter(value.items()))
        if kind == "last":
            start = Start("last", number=_int(raw, "from", minimum=1, maximum=LAST_MAX))
        elif kind in ("offset", "seq"):
            start = Start(kind, number=_int(raw, "from", minimum=0 if kind == "offset" else 1))
        elif kind == "time":
            start = Start("time", moment=_time(raw))
        elif kind == "offsets" and isinstance(raw, dict) and raw:
            try:
                pairs = tuple(sorted((int(p), _int(o, "from")) for p, o in raw.items()))
            except ValueError:
                raise InvalidInput("from.offsets maps partition numbers to offsets.", field="from") from None
            start = Start("offsets", offsets=pairs)
        else:
            raise InvalidInput(f"from has no start position {str(kind)[:20]!r}.", field="from")
    else:
        raise InvalidInput(
            'from must be "now", "beginning" or one of {"last": N}, {"offset": N}, {"seq": N}, {"time": ISO-8601}.',
            field="from",
        )
    if start.kind not in allowed:
        if source == "subject":
            raise InvalidInput('Core NATS keeps no history: a subject can only be tailed from "now".', field="from")
        raise InvalidInput(f"A {source} cannot start from {start.kind}.", field="from")
    return start


def parse_subscribe(frame: dict[str, Any]) -> TailSpec:
    """A subscribe frame as a spec; InvalidInput naming the field otherwise."""
    source = frame.get("source")
    if source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(SOURCES)}.", field="source")
    name = frame.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX_LENGTH:
        raise InvalidInput("name must be a non-empty string.", field="name")
    if source == "subject":
        problem = validate_subject(name)
        if problem:
            raise InvalidInput(f"name is not a valid subject pattern: {problem}.", field="name")
    keys = _keys(frame.get("keys"), source)
    if source == "kv" and not BUCKET_RE.match(name):
        raise InvalidInput("name is not a bucket name: letters, digits, - and _ only.", field="name")
    partitions = frame.get("partitions")
    parts: tuple[int, ...] | None = None
    if partitions is not None:
        if source != "topic":
            raise InvalidInput("partitions only apply to Kafka topics.", field="partitions")
        if not isinstance(partitions, list) or not partitions:
            raise InvalidInput("partitions must be a non-empty list of partition numbers, or null.", field="partitions")
        parts = tuple(sorted({_int(p, "partitions", maximum=1_000_000) for p in partitions}))
    subject = frame.get("subject")
    if subject is not None and subject != "":
        if source != "stream":
            raise InvalidInput("subject filters only apply to JetStream streams.", field="subject")
        if not isinstance(subject, str) or (problem := validate_subject(subject)):
            raise InvalidInput(f"subject is not a valid subject filter: {problem or 'not a string'}.", field="subject")
    else:
        subject = None
    needle = frame.get("filter")
    if needle is not None and not isinstance(needle, str):
        raise InvalidInput("filter must be a string or null.", field="filter")
    if needle is not None and len(needle) > FILTER_MAX_LENGTH:
        raise InvalidInput(f"filter is longer than {FILTER_MAX_LENGTH} characters.", field="filter")
    return TailSpec(
        source=source,
        name=name,
        start=parse_start(frame.get("from"), source),
        partitions=parts,
        subject=subject,
        filter=needle or None,
        keys=keys,
    )


def _keys(value: Any, source: str) -> str | None:
    """A Key-Value watch's key pattern (``*`` one token, ``>`` the rest), or None for every key."""
    if value is None or value == "":
        return None
    if source != "kv":
        raise InvalidInput("keys only apply to Key-Value watches.", field="keys")
    if not isinstance(value, str) or not PATTERN_RE.match(value) or validate_subject(f"$KV.b.{value}"):
        raise InvalidInput(
            "keys is not a key pattern: letters, digits and - / _ = . with * for one token or > for the rest.",
            field="keys",
        )
    return value
