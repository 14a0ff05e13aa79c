"""A JetStream search in a Celery task: the stream read in large batches (``jetstream_read``) on
a connection and loop thread of its own, each message matched on the task's thread."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, TypeVar

import nats.errors
from django.conf import settings
from django.utils import timezone

from streams.clusters import ClusterConfig
from streams.errors import BrokerUnavailable, InvalidInput, NotFound, StreamdeskError
from streams.masking import Mask, Rule, mask_headers, mask_payload
from streams.nats.adapter import NatsAdapter
from streams.nats.convert import as_dict, as_int, rfc3339, stream_summary_from
from streams.nats.jetstream import require_name
from streams.nats.loopthread import LoopThread
from streams.payloads import DISPLAY_LIMIT, Payload, header_pairs, headers_api
from streams.schemas.decode import decode_payload
from streams.search import jetstream_read as jr
from streams.search.filters import Matcher, Record, masked_record, schema_reader
from streams.search.kafka_scan import PROGRESS_SECONDS, rss_bytes
from streams.search.models import Search, SearchResult

T = TypeVar("T")
logger = logging.getLogger("streams.search")

BATCH = 5_000
MAX_BYTES = 16 * 1024 * 1024
# Seconds without a message before the reader asks whether the stream and the server are still there.
IDLE_SECONDS = 5.0
SCHEMA_SUBJECTS_CACHED = 1024
# How often the stream is asked for while batches are worked through, and the failed asks that end a search.
CHECK_SECONDS = 2.0
CHECK_MISSES = 2


class Stopped(Exception):
    pass


async def resolve_range(adapter: NatsAdapter, stream: str, start: Any, until: Any, subject: str | None) -> list[int]:
    """[first, end) in stream sequences, fixed now: ``start`` / ``until`` as the API gives them."""
    require_name("stream", stream)

    async def run() -> list[int]:
        info = await adapter.api(f"STREAM.INFO.{stream}", what=f"Stream {stream!r}")
        summary = stream_summary_from(info)
        first, after = max(1, summary.first_seq), summary.last_seq + 1
        if summary.messages == 0:
            first = after
        s = await _position(adapter, stream, start, first, after, subject)
        e = await _position(adapter, stream, until, first, after, subject)
        s = min(max(s, first), after)
        return [s, min(max(e, s), after)]

    return await adapter.call(run, what=f"stream {stream}")


async def _position(adapter: NatsAdapter, stream: str, where: Any, first: int, after: int, subject: str | None) -> int:
    if where is None or where == "now":
        return after
    if where == "beginning":
        return first
    if isinstance(where, dict):
        if "seq" in where:
            return int(where["seq"])
        if "last" in where:
            return max(first, after - int(where["last"]))
        if "time" in where:
            # The server reads RFC 3339 only; the API takes the other ISO 8601 forms too (+0000, no colon).
            moment = datetime.fromtimestamp(int(where["time"]) / 1000, tz=UTC)
            body = {"start_time": rfc3339(moment), "next_by_subj": subject or ">"}
            try:
                reply = await adapter.api(f"STREAM.MSG.GET.{stream}", body, what=f"Stream {stream!r} at {where['iso']}")
            except NotFound:
                return after
            return as_int(as_dict(reply.get("message")).get("seq"), after)
    raise InvalidInput("A position must be beginning, now, seq, last or time.", field="from")


def stream_rules(mask: Mask, stream: str) -> tuple[Rule, ...]:
    """The masking rules a search or export of ``stream`` applies for its user: those naming the stream,
    and those naming subjects (each message's subject then decides, see ``SubjectRules``); none for a
    user who may unmask."""
    named = mask.covering(("streams", stream))
    by_subject = tuple(
        r
        for r in mask.rules.rules
        if "subjects" in r.resources and any(fnmatchcase(mask.cluster, c) for c in r.clusters)
    )
    if by_subject:
        mask.covered = True
    # Rules are not hashable (their resources are a mapping): told apart by their number in the rules.
    unique = {rule.number: rule for rule in (*named, *by_subject)}
    return () if mask.unmask else tuple(unique.values())


class SubjectRules:
    """Of a search's or export's rules, those covering a message on one subject (worked out once per subject)."""

    def __init__(self, rules: tuple[Rule, ...], cluster: str, stream: str) -> None:
        self.rules = rules
        self.cluster = cluster
        self.stream = stream
        self._found: dict[str, tuple[Rule, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __call__(self, subject: str) -> tuple[Rule, ...]:
        if not self.rules:
            return ()
        hit = self._found.get(subject)
        if hit is None:
            if len(self._found) >= SCHEMA_SUBJECTS_CACHED:
                self._found.clear()
            hit = self._found[subject] = tuple(
                r
                for r in self.rules
                if r.covers(self.cluster, "streams", self.stream) or r.covers(self.cluster, "subjects", subject)
            )
        return hit


NO_RULES = SubjectRules((), "", "")


def schema_readers(config: ClusterConfig) -> Callable[[str], Callable[[str, bytes | None], Any] | None]:
    """subject -> the Record's ``schema_data`` for it (None where nothing may decode): a NATS schema is named by
    subject."""
    if not config.decodes:
        return lambda subject: None
    cache: dict[str, Callable[[str, bytes | None], Any] | None] = {}

    def get(subject: str) -> Callable[[str, bytes | None], Any] | None:
        found = cache.get(subject)
        if found is None:
            if len(cache) >= SCHEMA_SUBJECTS_CACHED:
                cache.clear()
            found = cache[subject] = schema_reader(config, subject)
        return found

    return get


def record(item: jr.Item, schema_data: Any, with_time: bool) -> Record:
    seq, subject, when, headers, data = item
    return Record(
        None,
        data,
        jr.header_list(headers),
        seq=seq,
        subject=subject,
        timestamp=jr.iso(when) if with_time else None,
        schema_data=schema_data,
    )


def item_matcher(
    config: ClusterConfig, params: dict[str, Any], match: Matcher, rules: SubjectRules = NO_RULES
) -> Callable[[jr.Item], bool]:
    """``match`` over a stream message, as its reader sees it (masked by ``rules``). Where nothing is decoded
    or masked (no jq, no schema, no rules) a text search is ``has_text``'s own test on the raw bytes (a NATS
    message has no key), without building a Record."""
    text, expression = params.get("text"), params.get("jq")
    if not text and not expression:
        return lambda item: True
    if text and not expression and not config.decodes and not rules:
        needle = text.encode()

        def has_text(item: jr.Item) -> bool:
            if needle in item[4]:
                return True
            headers = item[3]
            return bool(headers) and any(v is not None and needle in v for _, v in jr.header_list(headers))

        return has_text
    readers = schema_readers(config)
    with_time = bool(expression)
    if not rules:
        return lambda item: match(record(item, readers(item[1]), with_time))

    def seen(item: jr.Item) -> bool:
        found = record(item, readers(item[1]), with_time)
        covering = rules(item[1])
        return match(masked_record(found, config, item[1], covering) if covering else found)

    return seen


def shown_value(item: jr.Item, config: ClusterConfig, limit: int | None, rules: tuple[Rule, ...]) -> Payload:
    """A message's value as its reader sees it: decoded where a schema reads it, masked by ``rules``."""
    value = Payload.of(item[4], limit)
    if config.decodes:
        value = decode_payload(config, item[1], "value", value)
    return mask_payload(value, rules) if rules else value


def message(
    item: jr.Item, config: ClusterConfig, limit: int | None = DISPLAY_LIMIT, rules: SubjectRules = NO_RULES
) -> dict[str, Any]:
    """A stream message in the API's shape (as search results and the JSON Lines export give it)."""
    seq, subject, when, headers, _data = item
    covering = rules(subject)
    value = shown_value(item, config, limit, covering)
    pairs = header_pairs(jr.header_list(headers))
    return {
        "seq": seq,
        "subject": subject,
        "timestamp": jr.iso(when),
        "key": None,
        "headers": headers_api(mask_headers(pairs, covering) if covering else pairs),
        "value": value.as_api(),
        "truncated": value.truncated,
        "size": value.size,
    }


class Session:
    """The search's own connection, on a loop thread of its own: the task's thread stays synchronous
    (the database, jq) while the client keeps reading the socket between calls."""

    def __init__(self, config: ClusterConfig) -> None:
        self.timeout = settings.BROKER_TIMEOUT_SECONDS
        self.loop = LoopThread(name=f"search-{config.slug}")
        self.nc: Any = None
        try:
            self.nc = self.call(lambda: jr.connect(config, self.timeout))
        except BaseException:
            self.loop.stop()
            raise

    def call(self, factory: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        return self.loop.call(factory, (timeout or self.timeout) + 2)

    def close(self) -> None:
        try:
            if self.nc is not None and not self.nc.is_closed:
                self.call(self.nc.close)
        except Exception:
            logger.debug("closing the search connection failed", exc_info=True)
        self.loop.stop()


def open_reader(session: Session, where: jr.Range, *, batch: int, max_bytes: int) -> jr.StreamReader:
    async def start() -> jr.StreamReader:
        what = f"Stream {where.stream!r}"
        try:
            info = await jr.api(session.nc, f"STREAM.INFO.{where.stream}", None, session.timeout, what)
        except NotFound:
            raise jr.StreamGone(f"Stream {where.stream} no longer exists") from None
        reader = jr.StreamReader(
            session.nc,
            where,
            jr.method_for(info, jr.server_version(session.nc)),
            batch=batch,
            max_bytes=max_bytes,
            timeout=session.timeout,
        )
        await reader.open()
        return reader

    return session.call(start)


def run(
    search: Search,
    config: ClusterConfig,
    match: Matcher,
    limit: int,
    max_scan: int | None,
    mask: tuple[Rule, ...] = (),
) -> None:
    """``mask``: the masking rules its user may not see through (it then matches and keeps masked messages)."""
    start, end = (int(x) for x in search.ranges["seq"])
    where = jr.Range(search.target, start, end, search.params.get("subject") or None)
    rules = SubjectRules(tuple(mask), config.slug, search.target)
    matches = item_matcher(config, search.params, match, rules)
    kept = scanned = matched = 0
    started = time.monotonic()
    next_tick = 0.0
    pending: list[SearchResult] = []
    total = search.total

    next_check = time.monotonic() + CHECK_SECONDS
    misses = 0

    def check() -> None:
        # Batches already read are worked through after a delete or an outage: ask the server now and then.
        nonlocal misses
        if session is None or session.nc is None:
            return
        nc, wait = session.nc, session.timeout
        try:
            session.call(lambda: jr.api(nc, f"STREAM.INFO.{where.stream}", None, wait, f"Stream {where.stream!r}"))
        except NotFound:
            raise jr.StreamGone(f"Stream {where.stream} was deleted during the search") from None
        except StreamdeskError as exc:
            misses += 1
            if misses >= CHECK_MISSES:
                raise jr.ServerGone(f"NATS stopped answering ({exc.message})") from None
        else:
            misses = 0

    def tick(force: bool = False) -> bool:
        nonlocal next_tick, pending, next_check
        now = time.monotonic()
        if not force and now < next_tick:
            return False
        next_tick = now + PROGRESS_SECONDS
        if not force and now >= next_check:
            next_check = now + CHECK_SECONDS
            check()
        if pending:
            SearchResult.objects.bulk_create(pending)
            pending = []
        rate = scanned / max(now - started, 1e-6)
        Search.objects.filter(pk=search.pk).update(
            scanned=scanned, matched=matched, rate=rate, total=total, updated_at=timezone.now()
        )
        if rss_bytes() > settings.SEARCH_MEMORY_LIMIT_MB * 1024 * 1024:
            raise Stopped(
                f"Stopped at the memory limit of {settings.SEARCH_MEMORY_LIMIT_MB} MB "
                "(STREAMDESK_SEARCH_MEMORY_LIMIT_MB)"
            )
        return bool(Search.objects.filter(pk=search.pk).values_list("cancel_requested", flat=True).first())

    session: Session | None = None
    reader: jr.StreamReader | None = None
    try:
        session = Session(config)
        reader = open_reader(session, where, batch=BATCH, max_bytes=MAX_BYTES)
        current = reader
        while max_scan is None or scanned < max_scan:
            try:
                batch = session.call(lambda: current.next_batch(IDLE_SECONDS), IDLE_SECONDS)
            except (jr.Idle, jr.ReadFailed) as exc:
                why = str(exc)
                session.call(functools.partial(current.recover, why), session.timeout * 3)
                continue
            if not batch:
                if reader.done:
                    break
                continue
            if current.pending is not None:
                # The server's count of what is left narrows the fraction done (a subject filter, gaps).
                total = min(total, scanned + len(batch) + current.buffered + current.pending) or total
            for item in batch:
                if max_scan is not None and scanned >= max_scan:
                    break
                scanned += 1
                if matches(item):
                    matched += 1
                    if kept < limit:
                        pending.append(
                            SearchResult(search=search, index=kept, message=message(item, config, rules=rules))
                        )
                        kept += 1
                # Inside the batch: a slow jq expression makes a batch last long.
                if time.monotonic() >= next_tick and tick():
                    tick(force=True)
                    _finish(search, Search.State.CANCELLED)
                    return
        total = scanned if reader.done else total
        tick(force=True)
        _finish(search, Search.State.DONE)
    except (jr.StreamGone, jr.ServerGone, Stopped) as exc:
        tick(force=True)
        _finish(search, Search.State.FAILED, f"{exc}; {scanned:,} messages were scanned.")
    except Exception as exc:
        if not _unreachable(exc):
            raise
        tick(force=True)
        _finish(search, Search.State.FAILED, f"{getattr(exc, 'message', exc)}; {scanned:,} messages were scanned.")
    finally:
        if session is not None:
            if reader is not None:
                closing = reader
                try:
                    session.call(closing.close)
                except Exception:
                    logger.debug("closing the search reader failed", exc_info=True)
            session.close()


def _unreachable(exc: Exception) -> bool:
    return isinstance(exc, (BrokerUnavailable, TimeoutError, OSError, nats.errors.Error))


def _finish(search: Search, state: str, error: str = "") -> None:
    Search.objects.filter(pk=search.pk).update(state=state, error=error, finished_at=timezone.now())
