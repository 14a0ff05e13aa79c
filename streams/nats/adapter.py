"""NATS adapter: JetStream (streams, the message browser, consumers) and the server's
monitoring endpoints, on top of the cluster's one connection.

JetStream is read and changed through its JSON API (``$JS.API.*``) directly: the
answers stay plain dicts (cheap for a thousand streams), every paged list is
read to the end, and each ``error`` object maps to one typed error.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from datetime import datetime
from typing import Any

from streams import adapters
from streams.errors import (
    NotFound,
    NotSupported,
)
from streams.nats.browse import BATCH_GET_MIN_VERSION, BrowseRequest, direct_batch, msg_get_loop
from streams.nats.convert import (
    as_dict,
    as_int,
    at_least,
    consumer_summary_from,
    rfc3339,
    stored_message_from_msg_get,
    stream_detail_from,
    stream_summary_from,
)
from streams.nats.jetstream import JetStreamConnection, require_name
from streams.nats.monitor import ConnectionRow, server_overview
from streams.nats.subjects import subjects_overlap
from streams.nats.types import Browse, ConsumerSummary, StoredMessage, StreamDetail, StreamSummary
from streams.payloads import DISPLAY_LIMIT

logger = logging.getLogger("streams.nats")

PAUSE_MIN_VERSION = (2, 11, 0)
STREAM_SUBJECTS_CONCURRENCY = 16
SUBSCRIPTIONS_LIMIT = 10_000
# The server answers up to 100,000 subjects per stream; keep the busiest of them, and
# across all streams (the subjects page) at most SUBJECTS_TOTAL.
SUBJECTS_PER_STREAM = 10_000
SUBJECTS_TOTAL = 10_000


class NatsAdapter(JetStreamConnection):
    """JetStream and the monitoring endpoints, read and changed through the connection."""

    # -- server, connections, subscriptions -------------------------------------------

    async def server_overview(self) -> dict[str, Any]:
        """varz + jsz when monitoring is configured, the client's INFO and the account's usage always."""

        async def from_client() -> tuple[dict[str, Any], dict[str, Any] | None]:
            nc = await self._client()
            info = dict(getattr(nc, "_server_info", None) or {})
            try:
                account = await self.api("INFO", what="JetStream account info")
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
            found = [stream_summary_from(i) for i in infos]
            found.sort(key=lambda s: s.name)
            return found

        return await self.cache.get_or_load(("streams",), self._ttl(), load)

    async def _subject_counts(self, name: str, subjects_filter: str) -> tuple[dict[str, Any], dict[str, int], int]:
        """Stream info with the busiest SUBJECTS_PER_STREAM of its subjects matching the
        filter, and how many match in all."""
        info = await self.api(f"STREAM.INFO.{name}", {"subjects_filter": subjects_filter}, what=f"Stream {name!r}")
        state = as_dict(info.get("state"))
        subjects = as_dict(state.pop("subjects", None))
        total = max(as_int(info.get("total"), len(subjects)), len(subjects))
        return info, _busiest(subjects, SUBJECTS_PER_STREAM), total

    async def stream(self, name: str) -> StreamDetail:
        """The stream, with the busiest SUBJECTS_PER_STREAM of its subjects."""
        require_name("stream", name)

        async def fetch() -> StreamDetail:
            info, counts, total = await self._subject_counts(name, ">")
            return stream_detail_from(info, counts, total)

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
            reply = await self.api(f"STREAM.PURGE.{name}", body, what=f"Purging stream {name!r}")
            return as_int(reply.get("purged"))

        try:
            return await self.call(run, what=f"purging stream {name}")
        finally:
            self._forget_streams()

    async def delete_stream(self, name: str) -> None:
        require_name("stream", name)

        async def run() -> None:
            await self.api(f"STREAM.DELETE.{name}", what=f"Deleting stream {name!r}")

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
            await self.api(f"STREAM.MSG.DELETE.{name}", body, what=f"Message {seq} of stream {name!r}")

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
            info = await self.api(f"STREAM.INFO.{name}", what=f"Stream {name!r}")
            summary = stream_summary_from(info)
            start = seq if seq is not None else (None if since is not None else max(1, summary.first_seq))
            direct = summary.allow_direct and at_least(self.server_version(), BATCH_GET_MIN_VERSION)
            want = BrowseRequest(name, start, since, subject, limit, value_limit, deadline)
            if summary.messages == 0 or (start is not None and start > summary.last_seq):
                found: list[StoredMessage] = []
                more = False
            elif direct:
                found, more = await direct_batch(self, want)
            else:
                found, more = await msg_get_loop(self, want)
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
            reply = await self.api(f"STREAM.MSG.GET.{name}", {"seq": seq}, what=f"Message {seq} of stream {name!r}")
            return stored_message_from_msg_get(as_dict(reply.get("message")), limit)

        return await self.call(run, what=f"message {seq} of {name}")

    # -- consumers --------------------------------------------------------------------

    async def consumers(self, stream: str) -> list[ConsumerSummary]:
        require_name("stream", stream)

        async def fetch() -> list[Any]:
            return await self._list_all(
                f"CONSUMER.LIST.{stream}", "consumers", _consumer_name, what=f"Consumers of stream {stream!r}"
            )

        async def load() -> list[ConsumerSummary]:
            infos = await self.call(fetch, what=f"listing consumers of {stream}")
            found = [consumer_summary_from(i) for i in infos]
            found.sort(key=lambda c: c.name)
            return found

        return await self.cache.get_or_load(("consumers", stream), self._ttl(), load)

    async def consumer(self, stream: str, name: str) -> ConsumerSummary:
        require_name("stream", stream)
        require_name("consumer", name)

        async def fetch() -> ConsumerSummary:
            info = await self.api(f"CONSUMER.INFO.{stream}.{name}", what=f"Consumer {name!r} of stream {stream!r}")
            return consumer_summary_from(info)

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
            return await self.api(f"CONSUMER.PAUSE.{stream}.{name}", body, what=what)
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


adapters.provide("nats", NatsAdapter)
