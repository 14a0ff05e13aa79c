"""NATS adapter on nats-py, with the server's HTTP monitoring endpoints beside it.

nats-py binds a connection to the loop that made it, so the adapter owns a
private loop thread (``LoopThread``) and every call is submitted there with a
deadline. The connection is made lazily and again after a failure, with a
growing pause between attempts, so a server that comes back is used without a
restart and a dead one costs each request at most one timeout.

JetStream is read and changed through its JSON API (``$JS.API.*``) directly: the
answers stay plain dicts (cheap for a thousand streams), every paged list is
read to the end, and each ``error`` object maps to one typed error.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import nats
from django.conf import settings
from nats.aio.client import Client as NatsClient
from nats.errors import ConnectionClosedError, NoRespondersError, NoServersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from streams.brokers.base import (
    BrokerError,
    BrokerUnavailable,
    ClusterHealth,
    Conflict,
    InvalidInput,
    NotFound,
    NotSupported,
    StreamdeskError,
)
from streams.brokers.loopthread import LoopThread
from streams.clusters import ClusterConfig
from streams.nats_subjects import subjects_overlap
from streams.nats_types import (
    Browse,
    ConnectionRow,
    ConsumerSummary,
    StoredMessage,
    StreamDetail,
    StreamSummary,
    as_dict,
    as_int,
    at_least,
    rfc3339,
    server_overview,
)
from streams.payloads import DISPLAY_LIMIT
from streams.ttlcache import TTLCache

T = TypeVar("T")
logger = logging.getLogger("streams.brokers.nats")

MAX_BACKOFF_SECONDS = 10.0
RECONNECT_TIME_WAIT = 1


def translate(exc: BaseException, what: str) -> Exception:
    if isinstance(exc, NotFoundError):
        return NotFound(f"{what}: {exc.description or 'not found'}")
    if isinstance(exc, ServiceUnavailableError):
        return NotSupported(f"{what}: JetStream is not enabled on this server")
    if isinstance(exc, APIError):
        return BrokerError(f"{what} failed: {exc.description or exc}")
    if isinstance(exc, (TimeoutError, NatsTimeoutError)):
        return BrokerUnavailable(f"NATS did not answer within {settings.BROKER_TIMEOUT_SECONDS:g} s ({what})")
    if isinstance(exc, (NoServersError, ConnectionClosedError, OSError, nats.errors.Error)):
        return BrokerUnavailable(f"NATS is unreachable ({what}): {exc or exc.__class__.__name__}")
    if isinstance(exc, httpx.HTTPError):
        return BrokerUnavailable(f"NATS monitoring did not answer ({what}): {exc or exc.__class__.__name__}")
    return BrokerError(f"{what} failed: {exc}")


JS_API = "$JS.API."
PAUSE_MIN_VERSION = (2, 11, 0)
BATCH_GET_MIN_VERSION = (2, 11, 0)
BROWSE_MAX_BYTES = 32 * 1024 * 1024
STREAM_SUBJECTS_CONCURRENCY = 16
SUBSCRIPTIONS_LIMIT = 10_000
# The server answers up to 100,000 subjects per stream; keep the busiest of them, and
# across all streams (the subjects page) at most SUBJECTS_TOTAL.
SUBJECTS_PER_STREAM = 10_000
SUBJECTS_TOTAL = 10_000
# Paged lists: pages asked for at once, and pages read at most (256 items each).
LIST_CONCURRENCY = 8
LIST_MAX_PAGES = 400

# err_code -> the typed error it becomes. The server's "code" decides the rest.
JS_NOT_FOUND = {10059, 10014, 10037, 10043}
JS_NOT_ENABLED = {10039, 10076}
JS_CONFLICT = {10058, 10148, 10013}


def js_error(error: Any, what: str) -> StreamdeskError:
    """A JetStream API ``error`` object as one typed error."""
    info = error if isinstance(error, dict) else {}
    code = as_int(info.get("code"))
    err_code = as_int(info.get("err_code"))
    description = str(info.get("description") or "error")
    message = f"{what}: {description}"
    if err_code in JS_NOT_FOUND or code == 404:
        return NotFound(message)
    if err_code in JS_NOT_ENABLED:
        return NotSupported(f"{what}: JetStream is not enabled for this account")
    if err_code in JS_CONFLICT or code == 409:
        return Conflict(message)
    if code == 400:
        return InvalidInput(message)
    if code == 503:
        return BrokerUnavailable(message)
    return BrokerError(f"{what} failed: {description} (code {code}, err_code {err_code})")


def valid_name(name: str) -> bool:
    """Stream and consumer names become subject tokens: no dots, wildcards, spaces or slashes."""
    return (
        0 < len(name) <= 255
        and not any(ch in name for ch in ".*>/\\")
        and not any(ch.isspace() or ord(ch) < 32 for ch in name)
    )


def require_name(kind: str, name: str) -> None:
    if not valid_name(name):
        raise NotFound(f"No {kind} named {name[:80]!r}: that is not a valid {kind} name.")


@dataclass(frozen=True)
class BrowseRequest:
    """What one browse reads, by direct get or by message get alike."""

    stream: str
    start: int | None
    since: datetime | None
    subject: str | None
    limit: int
    value_limit: int | None
    deadline: float

    def start_at(self) -> dict[str, Any]:
        """Where reading starts, in the JetStream API's words: a sequence, a time, or neither."""
        if self.start is not None:
            return {"seq": self.start}
        if self.since is not None:
            return {"start_time": rfc3339(self.since)}
        return {}


class NatsAdapter:
    kind = "nats"

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.timeout = settings.BROKER_TIMEOUT_SECONDS
        self._loop = LoopThread(name=f"nats-{config.slug}")
        self._nc: NatsClient | None = None
        # Made on the private loop by the first _client() call: an asyncio.Lock belongs to one loop.
        self._connecting: asyncio.Lock | None = None
        self._http: httpx.AsyncClient | None = None
        self._next_attempt = 0.0
        self._failures = 0
        self._last_error = ""
        self.cache = TTLCache(max_entries=512)

    # -- connection management (runs on the private loop) -----------------------------

    def _connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "servers": list(self.config.servers),
            "name": "streamdesk",
            "connect_timeout": self.timeout,
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": RECONNECT_TIME_WAIT,
            "ping_interval": 20,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnect,
        }
        if self.config.username:
            options["user"] = self.config.username
            options["password"] = self.config.password
        if self.config.token:
            options["token"] = self.config.token
        if self.config.nkey_seed:
            options["nkeys_seed_str"] = self.config.nkey_seed
        if self.config.creds_file:
            options["user_credentials"] = self.config.creds_file
        if self.config.tls_ca_file or self.config.tls_cert_file:
            import ssl

            context = ssl.create_default_context(cafile=self.config.tls_ca_file or None)
            if self.config.tls_cert_file:
                context.load_cert_chain(self.config.tls_cert_file, self.config.tls_key_file or None)
            options["tls"] = context
        return options

    async def _on_error(self, exc: Exception) -> None:
        self._last_error = str(exc) or exc.__class__.__name__
        logger.debug("nats %s: %s", self.config.slug, exc)

    async def _on_disconnect(self) -> None:
        logger.info("nats %s: disconnected, reconnecting in the background", self.config.slug)

    def _current(self) -> NatsClient | None:
        """The live connection; None when there is none yet (or it was closed)."""
        nc = self._nc
        if nc is None or nc.is_closed:
            return None
        if nc.is_connected:
            return nc
        raise BrokerUnavailable(f"NATS connection lost; reconnecting ({self._last_error or 'server gone'})")

    async def _client(self) -> NatsClient:
        nc = self._current()
        if nc is not None:
            return nc
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        # One connect at a time: callers that arrive meanwhile get its connection, or its
        # failure through the backoff, instead of each opening (and leaking) their own.
        async with self._connecting:
            return self._current() or await self._connect()

    async def _connect(self) -> NatsClient:
        now = time.monotonic()
        if now < self._next_attempt:
            raise BrokerUnavailable(f"NATS is unreachable: {self._last_error}")
        # The reconnect settings govern the first connect too. nats-py (2.16) retries
        # forever when max_reconnect_attempts is 0, so allow one retry per server, with
        # no pause between: a refused connection then fails this call at once.
        options = self._connect_options()
        options["max_reconnect_attempts"] = 1
        options["reconnect_time_wait"] = 0
        self._last_error = ""
        try:
            nc = await nats.connect(**options)
        except asyncio.CancelledError:
            # The caller's deadline passed mid-connect (a server that does not answer).
            self._note_failure(now, self._last_error or "connect timed out")
            raise
        except Exception as exc:
            # "no servers available" says less than the error each attempt reported.
            if not (isinstance(exc, NoServersError) and self._last_error):
                self._last_error = str(exc) or exc.__class__.__name__
            self._note_failure(now, self._last_error)
            raise BrokerUnavailable(f"NATS is unreachable: {self._last_error}") from exc
        # From here on, reconnect forever in the background.
        nc.options["max_reconnect_attempts"] = -1
        nc.options["reconnect_time_wait"] = RECONNECT_TIME_WAIT
        self._failures = 0
        self._nc = nc
        return nc

    def _note_failure(self, now: float, error: str) -> None:
        self._failures += 1
        self._last_error = error
        self._next_attempt = now + min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (self._failures - 1))

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._http

    # -- the public surface (called from any loop) ----------------------------------

    async def call(self, factory: Callable[[], Awaitable[T]], *, what: str, timeout: float | None = None) -> T:
        """Run ``factory()`` on the adapter loop with a deadline and typed errors."""
        try:
            return await self._loop.run(factory, (timeout or self.timeout) + 0.5)
        except StreamdeskError:
            raise
        except Exception as exc:
            raise translate(exc, what) from exc

    def call_sync(self, factory: Callable[[], Awaitable[T]], *, what: str, timeout: float | None = None) -> T:
        try:
            return self._loop.call(factory, (timeout or self.timeout) + 0.5)
        except StreamdeskError:
            raise
        except Exception as exc:
            raise translate(exc, what) from exc

    async def monitor(self, endpoint: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET a monitoring endpoint (varz, connz, subsz, jsz, ...) as JSON."""
        if not self.config.monitor_url:
            raise NotSupported("NATS monitoring is not configured for this cluster (set NATS_MONITOR_URL)")
        url = self.config.monitor_url.rstrip("/") + "/" + endpoint

        async def fetch() -> dict[str, Any]:
            response = await self.http().get(url, params=params)
            response.raise_for_status()
            data = response.json()
            if not isinstance(data, dict):
                raise BrokerError(f"monitoring {endpoint} answered something that is not an object")
            return data

        return await self.call(fetch, what=f"monitoring {endpoint}")

    async def ping(self) -> ClusterHealth:
        started = time.monotonic()
        error: str | None = None
        version: str | None = None

        async def roundtrip() -> str | None:
            nc = await self._client()
            # A request nobody answers comes back at once as "no responders": a full
            # round trip. flush() is avoided because nats-py leaves a timed-out PING's
            # future queued, and the late PONG then breaks the client's read loop.
            try:
                await nc.request(nc.new_inbox(), b"", timeout=self.timeout)
            except NoRespondersError:
                pass
            return self.server_version()

        try:
            version = await self.call(roundtrip, what="ping")
        except Exception as exc:  # noqa: BLE001 - ping reports, never raises
            error = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
        rtt = (time.monotonic() - started) * 1000
        return ClusterHealth(
            slug=self.config.slug,
            kind=self.kind,
            name=self.config.name,
            reachable=error is None,
            error=error,
            rtt_ms=None if error else rtt,
            version=version,
            checked_at=datetime.now(UTC),
        )

    # -- JetStream API (runs on the private loop) ---------------------------------------

    def server_version(self) -> str | None:
        info = getattr(self._nc, "_server_info", None) or {}
        return str(info.get("version") or "") or None

    async def _api(self, api: str, body: dict[str, Any] | None = None, *, what: str) -> dict[str, Any]:
        """One JetStream API request; its ``error`` object becomes a typed error."""
        nc = await self._client()
        payload = b"" if body is None else json.dumps(body).encode()
        try:
            reply = await nc.request(JS_API + api, payload, timeout=self.timeout)
        except NoRespondersError:
            raise NotSupported(f"{what}: JetStream is not enabled on this server (no responders)") from None
        try:
            data = json.loads(reply.data)
        except ValueError:
            raise BrokerError(f"{what}: the server answered something that is not JSON") from None
        if not isinstance(data, dict):
            raise BrokerError(f"{what}: the server answered something that is not an object")
        if data.get("error"):
            raise js_error(data["error"], what)
        return data

    async def _list_all(self, api: str, key: str, name_of: Callable[[dict[str, Any]], str], *, what: str) -> list[Any]:
        """Every item of a paged JetStream list (the server answers 256 per page).

        The first page gives the total; the rest are asked for LIST_CONCURRENCY at a time,
        and at most LIST_MAX_PAGES in all, whatever total the server claims. Items added or
        removed between pages may shift the offsets, so duplicates are dropped.
        """
        first = await self._api(api, {"offset": 0}, what=what)
        items = [i for i in first.get(key) or [] if isinstance(i, dict)]
        total = as_int(first.get("total"))
        step = max(1, as_int(first.get("limit")) or len(items) or 256)
        end = min(total, len(items) + step * (LIST_MAX_PAGES - 1))
        if total > end:
            logger.warning("nats %s: %s lists %d items; reading the first %d", self.config.slug, api, total, end)
        offsets = range(len(items), end, step) if items else range(0)
        gate = asyncio.Semaphore(LIST_CONCURRENCY)

        async def one_page(offset: int) -> dict[str, Any]:
            async with gate:
                return await self._api(api, {"offset": offset}, what=what)

        pages = await asyncio.gather(*(one_page(o) for o in offsets))
        for page in pages:
            items.extend(i for i in page.get(key) or [] if isinstance(i, dict))
        seen: set[str] = set()
        unique: list[dict[str, Any]] = []
        for item in items:
            name = name_of(item)
            if name not in seen:
                seen.add(name)
                unique.append(item)
        return unique

    def invalidate(self, *prefix: Hashable) -> None:
        """Forget cached answers (all of them, or those under ``prefix``)."""
        self.cache.invalidate(tuple(prefix) if prefix else None)

    def _ttl(self) -> float:
        return float(settings.BROKER_CACHE_SECONDS)

    # -- server, connections, subscriptions -------------------------------------------

    async def server_overview(self) -> dict[str, Any]:
        """varz + jsz when monitoring is configured, the client's INFO and the account's usage always."""

        async def from_client() -> tuple[dict[str, Any], dict[str, Any] | None]:
            nc = await self._client()
            info = dict(getattr(nc, "_server_info", None) or {})
            try:
                account = await self._api("INFO", what="JetStream account info")
            except NotSupported:
                account = None
            return info, account

        monitored = bool(self.config.monitor_url)
        # Connect before asking varz, so that its counts include the console's own connection.
        await self.call(self._client, what="server info")
        results = await asyncio.gather(
            self.call(from_client, what="server info"),
            self.monitor("varz") if monitored else _none(),
            self.monitor("jsz") if monitored else _none(),
            return_exceptions=True,
        )
        client = results[0]
        if isinstance(client, BaseException):
            raise client
        info, account = client
        monitor_error = next((r for r in results[1:] if isinstance(r, BaseException)), None)
        varz = results[1] if isinstance(results[1], dict) else None
        jsz = results[2] if isinstance(results[2], dict) else None
        data = server_overview(info, account, varz, jsz)
        data["monitoring"] = monitored
        data["monitor_error"] = None if monitor_error is None else getattr(monitor_error, "message", str(monitor_error))
        return data

    async def connections(self, *, sort: str, offset: int, limit: int) -> tuple[list[ConnectionRow], int, int | None]:
        """One page of client connections (connz), and the server's slow-consumer count."""
        connz, varz = await asyncio.gather(
            self.monitor("connz", {"sort": sort, "offset": offset, "limit": limit}), self.monitor("varz")
        )
        max_pending = as_int(varz.get("max_pending")) or None
        rows = [ConnectionRow.from_connz(c, max_pending) for c in connz.get("connections") or [] if isinstance(c, dict)]
        total = as_int(connz.get("total"), len(rows))
        slow = as_int(varz.get("slow_consumers")) if "slow_consumers" in varz else None
        return rows, total, slow

    async def subscriptions(self) -> tuple[list[dict[str, Any]], int]:
        """Active subscriptions from subsz (at most SUBSCRIPTIONS_LIMIT) and how many there are."""
        ttl = self._ttl()

        async def load() -> tuple[list[dict[str, Any]], int]:
            subsz = await self.monitor("subsz", {"subs": 1, "limit": SUBSCRIPTIONS_LIMIT})
            items = [s for s in subsz.get("subscriptions_list") or [] if isinstance(s, dict)]
            return items, as_int(subsz.get("total"), len(items))

        return await self.cache.get_or_load(("subsz",), ttl, load)

    # -- streams ----------------------------------------------------------------------

    async def streams(self) -> list[StreamSummary]:
        """Every stream, sorted by name (paged past the server's 256 per answer)."""

        async def fetch() -> list[Any]:
            return await self._list_all("STREAM.LIST", "streams", _stream_name, what="Listing streams")

        async def load() -> list[StreamSummary]:
            infos = await self.call(fetch, what="listing streams")
            found = [StreamSummary.from_info(i) for i in infos]
            found.sort(key=lambda s: s.name)
            return found

        return await self.cache.get_or_load(("streams",), self._ttl(), load)

    async def _subject_counts(self, name: str, subjects_filter: str) -> tuple[dict[str, Any], dict[str, int], int]:
        """Stream info with the busiest SUBJECTS_PER_STREAM of its subjects matching the
        filter, and how many match in all."""
        info = await self._api(f"STREAM.INFO.{name}", {"subjects_filter": subjects_filter}, what=f"Stream {name!r}")
        state = as_dict(info.get("state"))
        subjects = as_dict(state.pop("subjects", None))
        total = max(as_int(info.get("total"), len(subjects)), len(subjects))
        return info, _busiest(subjects, SUBJECTS_PER_STREAM), total

    async def stream(self, name: str) -> StreamDetail:
        """The stream, with the busiest SUBJECTS_PER_STREAM of its subjects."""
        require_name("stream", name)

        async def fetch() -> StreamDetail:
            info, counts, total = await self._subject_counts(name, ">")
            return StreamDetail.from_info(info, counts, total)

        return await self.call(fetch, what=f"stream {name}")

    async def stream_subjects(self, subjects_filter: str = ">") -> tuple[dict[str, dict[str, int]], bool]:
        """{stream: {subject: stored messages}} for every stream that stores something, and
        whether subjects were left out: at most SUBJECTS_PER_STREAM (the busiest) per stream
        and SUBJECTS_TOTAL in all, streams taken by name."""
        streams = await self.streams()
        # Only streams whose subjects can overlap the filter; mirrors and sourced streams
        # have no subjects of their own, so they are always asked.
        names = [
            s.name
            for s in streams
            if s.messages > 0
            and (
                subjects_filter == ">"
                or not s.subjects
                or any(subjects_overlap(subjects_filter, own) for own in s.subjects)
            )
        ]

        async def one(name: str) -> tuple[dict[str, int], int]:
            try:
                _, counts, total = await self._subject_counts(name, subjects_filter)
            except NotFound:
                return {}, 0
            return counts, total

        async def fetch() -> tuple[dict[str, dict[str, int]], bool]:
            found: dict[str, dict[str, int]] = {}
            truncated = False
            budget = SUBJECTS_TOTAL
            # In batches, in name order, so that the budget runs out at the same stream every time.
            for start in range(0, len(names), STREAM_SUBJECTS_CONCURRENCY):
                if budget <= 0:
                    return found, True
                batch = names[start : start + STREAM_SUBJECTS_CONCURRENCY]
                answers = await asyncio.gather(*(one(n) for n in batch))
                for name, (counts, total) in zip(batch, answers, strict=True):
                    kept = _busiest(counts, budget)
                    truncated = truncated or total > len(kept)
                    budget -= len(kept)
                    if kept:
                        found[name] = kept
            return found, truncated

        async def load() -> tuple[dict[str, dict[str, int]], bool]:
            return await self.call(fetch, what="stream subjects")

        return await self.cache.get_or_load(("stream-subjects", subjects_filter), self._ttl(), load)

    def _forget_streams(self) -> None:
        self.cache.invalidate(("streams",))
        self.cache.invalidate(("stream-subjects",))

    async def purge_stream(self, name: str, *, subject: str | None = None, keep: int | None = None) -> int:
        """Purge a stream, or one subject filter of it, optionally keeping the newest ``keep``; the count purged."""
        require_name("stream", name)
        body: dict[str, Any] = {}
        if subject:
            body["filter"] = subject
        if keep is not None:
            body["keep"] = keep

        async def run() -> int:
            reply = await self._api(f"STREAM.PURGE.{name}", body, what=f"Purging stream {name!r}")
            return as_int(reply.get("purged"))

        try:
            return await self.call(run, what=f"purging stream {name}")
        finally:
            self._forget_streams()

    async def delete_stream(self, name: str) -> None:
        require_name("stream", name)

        async def run() -> None:
            await self._api(f"STREAM.DELETE.{name}", what=f"Deleting stream {name!r}")

        try:
            await self.call(run, what=f"deleting stream {name}")
        finally:
            self._forget_streams()
            self.cache.invalidate(("consumers", name))

    async def delete_message(self, name: str, seq: int, *, erase: bool = False) -> None:
        """Remove one message; ``erase`` overwrites its bytes on disk too (slower)."""
        require_name("stream", name)

        async def run() -> None:
            body = {"seq": seq} if erase else {"seq": seq, "no_erase": True}
            await self._api(f"STREAM.MSG.DELETE.{name}", body, what=f"Message {seq} of stream {name!r}")

        try:
            await self.call(run, what=f"deleting message {seq} of {name}")
        finally:
            self._forget_streams()

    # -- the message browser ----------------------------------------------------------

    async def messages(
        self,
        name: str,
        *,
        seq: int | None = None,
        since: datetime | None = None,
        subject: str | None = None,
        limit: int = 50,
    ) -> Browse:
        """Up to ``limit`` stored messages from ``seq`` (or the first at/after ``since``),
        optionally only those matching ``subject``.

        Reads with direct get (one batched request) when the stream allows it and the
        server is 2.11+, else with message get, one request per message. Neither creates
        a consumer, so browsing leaves no trace on the server. Stops early, with
        ``next_seq`` set, when the deadline or the byte budget comes near. Values are cut
        at DISPLAY_LIMIT; ``message()`` gives one whole.
        """
        require_name("stream", name)
        value_limit = DISPLAY_LIMIT

        async def run() -> Browse:
            deadline = time.monotonic() + self.timeout * 0.8
            info = await self._api(f"STREAM.INFO.{name}", what=f"Stream {name!r}")
            summary = StreamSummary.from_info(info)
            start = seq if seq is not None else (None if since is not None else max(1, summary.first_seq))
            direct = summary.allow_direct and at_least(self.server_version(), BATCH_GET_MIN_VERSION)
            want = BrowseRequest(name, start, since, subject, limit, value_limit, deadline)
            if summary.messages == 0 or (start is not None and start > summary.last_seq):
                found: list[StoredMessage] = []
                more = False
            elif direct:
                found, more = await self._direct_batch(want)
            else:
                found, more = await self._msg_get_loop(want)
            last = found[-1].seq if found else None
            next_seq = last + 1 if last is not None and (more or len(found) >= limit) else None
            if next_seq is not None and next_seq > summary.last_seq:
                next_seq = None
            return Browse(
                stream=name,
                messages=found,
                method="direct get" if direct else "message get",
                first_seq=summary.first_seq,
                last_seq=summary.last_seq,
                next_seq=next_seq,
            )

        return await self.call(run, what=f"browsing stream {name}")

    async def message(self, name: str, seq: int, *, limit: int = DISPLAY_LIMIT) -> StoredMessage:
        """Exactly the message at ``seq`` (404 when deleted or never stored), its value cut at ``limit``."""
        require_name("stream", name)

        async def run() -> StoredMessage:
            reply = await self._api(f"STREAM.MSG.GET.{name}", {"seq": seq}, what=f"Message {seq} of stream {name!r}")
            return StoredMessage.from_msg_get(as_dict(reply.get("message")), limit)

        return await self.call(run, what=f"message {seq} of {name}")

    async def _direct_batch(self, want: BrowseRequest) -> tuple[list[StoredMessage], bool]:
        nc = await self._client()
        request: dict[str, Any] = {"batch": want.limit, "max_bytes": BROWSE_MAX_BYTES, **want.start_at()}
        if want.subject:
            request["next_by_subj"] = want.subject
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        found: list[StoredMessage] = []
        more = False
        try:
            await nc.publish(f"{JS_API}DIRECT.GET.{want.stream}", json.dumps(request).encode(), reply=inbox)
            # The server sends up to ``batch`` messages, then a 204 status carrying Nats-Num-Pending.
            while len(found) <= want.limit:
                remaining = want.deadline - time.monotonic()
                if remaining <= 0:
                    more = True
                    break
                try:
                    msg = await sub.next_msg(timeout=remaining)
                except NatsTimeoutError:
                    if not found:
                        raise
                    more = True
                    break
                headers = msg.headers or {}
                status = headers.get("Status")
                if not status:
                    found.append(StoredMessage.from_direct(headers, msg.data, want.value_limit))
                    continue
                if status == "204":
                    more = as_int(headers.get("Nats-Num-Pending")) > 0
                elif status != "404":
                    description = headers.get("Description", "")
                    raise BrokerError(f"Direct get on stream {want.stream!r} answered {status} {description}".strip())
                break
        finally:
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                logger.debug("nats %s: unsubscribing the browse inbox failed", self.config.slug, exc_info=True)
        return found, more

    async def _msg_get_loop(self, want: BrowseRequest) -> tuple[list[StoredMessage], bool]:
        found: list[StoredMessage] = []
        budget = BROWSE_MAX_BYTES
        request: dict[str, Any] = {"next_by_subj": want.subject or ">", **want.start_at()}
        while len(found) < want.limit:
            if time.monotonic() > want.deadline or budget <= 0:
                return found, True
            try:
                reply = await self._api(
                    f"STREAM.MSG.GET.{want.stream}", request, what=f"Messages of stream {want.stream!r}"
                )
            except NotFound:
                # No message at or after the cursor (the stream itself was found above).
                return found, False
            stored = StoredMessage.from_msg_get(as_dict(reply.get("message")), want.value_limit)
            found.append(stored)
            budget -= stored.value.size
            request = {"seq": stored.seq + 1, "next_by_subj": want.subject or ">"}
        return found, True

    # -- consumers --------------------------------------------------------------------

    async def consumers(self, stream: str) -> list[ConsumerSummary]:
        require_name("stream", stream)

        async def fetch() -> list[Any]:
            return await self._list_all(
                f"CONSUMER.LIST.{stream}", "consumers", _consumer_name, what=f"Consumers of stream {stream!r}"
            )

        async def load() -> list[ConsumerSummary]:
            infos = await self.call(fetch, what=f"listing consumers of {stream}")
            found = [ConsumerSummary.from_info(i) for i in infos]
            found.sort(key=lambda c: c.name)
            return found

        return await self.cache.get_or_load(("consumers", stream), self._ttl(), load)

    async def consumer(self, stream: str, name: str) -> ConsumerSummary:
        require_name("stream", stream)
        require_name("consumer", name)

        async def fetch() -> ConsumerSummary:
            info = await self._api(f"CONSUMER.INFO.{stream}.{name}", what=f"Consumer {name!r} of stream {stream!r}")
            return ConsumerSummary.from_info(info)

        return await self.call(fetch, what=f"consumer {stream}/{name}")

    def _require_pause_support(self) -> None:
        version = self.server_version()
        if version and not at_least(version, PAUSE_MIN_VERSION):
            raise NotSupported(
                f"Pausing consumers needs nats-server 2.11 or newer; this server runs {version}. "
                "Upgrade the server, or stop the consumer's clients instead."
            )

    async def _pause_request(self, stream: str, name: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        await self._client()
        self._require_pause_support()
        try:
            return await self._api(f"CONSUMER.PAUSE.{stream}.{name}", body, what=what)
        except NotSupported:
            raise NotSupported(
                f"{what}: this server does not answer the consumer pause API (it needs nats-server 2.11 or newer)."
            ) from None

    async def pause_consumer(self, stream: str, name: str, until: datetime) -> dict[str, Any]:
        """Pause a consumer server-side until ``until``; the server's answer, with times parsed."""
        require_name("stream", stream)
        require_name("consumer", name)

        async def run() -> dict[str, Any]:
            return await self._pause_request(
                stream, name, {"pause_until": rfc3339(until)}, f"Pausing consumer {name!r} of stream {stream!r}"
            )

        try:
            return await self.call(run, what=f"pausing consumer {stream}/{name}")
        finally:
            self.cache.invalidate(("consumers", stream))

    async def resume_consumer(self, stream: str, name: str) -> dict[str, Any]:
        require_name("stream", stream)
        require_name("consumer", name)

        async def run() -> dict[str, Any]:
            # No pause_until (the zero time) means "resume now".
            return await self._pause_request(stream, name, {}, f"Resuming consumer {name!r} of stream {stream!r}")

        try:
            return await self.call(run, what=f"resuming consumer {stream}/{name}")
        finally:
            self.cache.invalidate(("consumers", stream))

    def close(self) -> None:
        async def shutdown() -> None:
            if self._nc is not None and not self._nc.is_closed:
                await self._nc.close()
            if self._http is not None:
                await self._http.aclose()

        try:
            self._loop.call(shutdown, 2)
        except Exception:
            logger.debug("nats %s: close failed", self.config.slug, exc_info=True)
        self._loop.stop()


async def _none() -> None:
    return None


def _busiest(subjects: dict[str, Any], keep: int) -> dict[str, int]:
    """The ``keep`` subjects with the most messages (ties by name), as {subject: count}."""
    counts = ((str(k), as_int(v)) for k, v in subjects.items())
    if len(subjects) <= keep:
        return dict(counts)
    return dict(heapq.nsmallest(max(keep, 0), counts, key=lambda kv: (-kv[1], kv[0])))


def _stream_name(info: dict[str, Any]) -> str:
    config = info.get("config")
    return str(config.get("name", "")) if isinstance(config, dict) else ""


def _consumer_name(info: dict[str, Any]) -> str:
    return str(info.get("name", ""))
