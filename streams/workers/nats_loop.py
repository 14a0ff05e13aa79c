"""A managed consumer on a JetStream stream: a durable pull consumer, created when missing.

Each batch: fetch up to ``batch_size`` messages, call the handler (per subject in order;
``concurrency`` subjects at once), wait until every send (forwards, dead letters) is
confirmed, then acknowledge each message that is done. A message not done (paused or stopped
before its turn, or its send failed) is negatively acknowledged, so the server delivers it
again at once; a message stuck past its retries with no dead-letter destination is left
unacknowledged and the loop stops fetching (``failing``).

While a batch is handled, every message of it not yet acknowledged is reported in progress
every third of the durable's ``ack_wait``, so a slow handler, a retry's backoff or a slow send
never has the server deliver the message to another instance meanwhile.

Pause: the action functions pause the consumer on the server (nats-server 2.11+), so every
instance stops at once; each loop also stops fetching, which is the whole pause on older
servers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from streams.errors import NotFound, StreamdeskError
from streams.nats.connection import connect_options
from streams.nats.convert import rfc3339
from streams.nats.jetstream import JS_API, js_error
from streams.nats.types import INDEFINITE_PAUSE
from streams.workers.loop import ConsumerLoop, Outcome, State
from streams.workers.message import NatsMessage, bound

logger = logging.getLogger("streams.workers")

FETCH_SECONDS = 0.5
ACK_WAIT_SECONDS = 30


class NatsLoop(ConsumerLoop):
    nc: NatsClient | None = None
    loop: asyncio.AbstractEventLoop | None = None
    # The durable's, as the server reports it: what the progress reports keep ahead of.
    ack_wait: float = ACK_WAIT_SECONDS
    _make: Callable[[Any], NatsMessage] | None = None

    def coordinates(self, raw: Any) -> int:
        seq: int = raw.metadata.sequence.stream
        return seq

    def run_client(self) -> None:
        asyncio.run(self._main())

    async def _api(self, nc: NatsClient, api: str, body: dict[str, Any] | None, what: str) -> dict[str, Any]:
        payload = b"" if body is None else json.dumps(body).encode()
        try:
            reply = await nc.request(JS_API + api, payload, timeout=self.timeout)
        except NoRespondersError:
            raise StreamdeskError(f"{what}: JetStream is not enabled on this server") from None
        data = json.loads(reply.data)
        if data.get("error"):
            raise js_error(data["error"], what)
        return dict(data)

    async def ensure_consumer(self, nc: NatsClient) -> dict[str, Any]:
        """The durable pull consumer, created (paused, when the consumer is paused) if missing."""
        spec = self.spec
        name = f"{spec.source}/{spec.durable}"
        try:
            info = await self._api(nc, f"CONSUMER.INFO.{spec.source}.{spec.durable}", None, f"Consumer {name}")
        except NotFound:
            config: dict[str, Any] = {
                "durable_name": spec.durable,
                "name": spec.durable,
                "description": f"Streamdesk managed consumer {spec.name}",
                "ack_policy": "explicit",
                "deliver_policy": "all" if spec.start == "earliest" else "new",
                "ack_wait": ACK_WAIT_SECONDS * 1_000_000_000,
                "max_ack_pending": max(1000, spec.batch_size * 4),
            }
            if spec.filter_subject:
                config["filter_subject"] = spec.filter_subject
            if self.want_paused:
                config["pause_until"] = rfc3339(datetime.now(UTC) + INDEFINITE_PAUSE)
            body = {"stream_name": spec.source, "config": config, "action": "create"}
            try:
                info = await self._api(nc, f"CONSUMER.CREATE.{spec.source}.{spec.durable}", body, f"Creating {name}")
            except StreamdeskError:
                if "pause_until" not in config:
                    raise
                # Servers before 2.11 refuse pause_until: create it running; the loop does not fetch.
                config.pop("pause_until")
                info = await self._api(nc, f"CONSUMER.CREATE.{spec.source}.{spec.durable}", body, f"Creating {name}")
        if (info.get("config") or {}).get("deliver_subject"):
            raise StreamdeskError(f"Consumer {name} is a push consumer; a managed consumer needs a pull consumer.")
        return info

    async def _main(self) -> None:
        options = connect_options(self.resolve(self.spec.cluster), self.timeout)
        options["name"] = f"streamdesk-{self.spec.name}"
        options["error_cb"] = _quiet
        options["max_reconnect_attempts"] = 1
        options["reconnect_time_wait"] = 0
        nc = await nats.connect(**options)
        nc.options["max_reconnect_attempts"] = -1
        nc.options["reconnect_time_wait"] = 1
        self.nc = nc
        self.loop = asyncio.get_running_loop()
        if self.outbox is not None:
            self.outbox.host_nats(self.spec.cluster, (self.loop, nc))
        try:
            info = await self.ensure_consumer(nc)
            ack_wait = (info.get("config") or {}).get("ack_wait")
            if isinstance(ack_wait, int) and ack_wait > 0:
                self.ack_wait = ack_wait / 1e9
            js = nc.jetstream(timeout=self.timeout)
            sub = await js.pull_subscribe_bind(durable=self.spec.durable, stream=self.spec.source)
            self.assignment = [[self.spec.source, self.spec.filter_subject or ">"]]
            if self.state in (State.STARTING, State.FAILING):
                self.state = State.RUNNING
            while not self.stopping:
                if self.halt:
                    if not self.stuck:
                        self.state = State.PAUSED
                    await asyncio.sleep(0.05)
                    continue
                if not self.troubled:
                    self.state = State.RUNNING
                try:
                    messages = await sub.fetch(self.spec.batch_size, timeout=FETCH_SECONDS)
                except (NatsTimeoutError, TimeoutError):
                    # Nothing to fetch: nats-py raises either its own timeout or asyncio's.
                    continue
                except nats.errors.Error as exc:
                    self.note_error(f"fetch failed: {exc or exc.__class__.__name__}", None)
                    await asyncio.sleep(0.5)
                    continue
                if messages:
                    await self._process(messages)
            self.state = State.STOPPING
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                pass
        finally:
            self.assignment = []
            if self.outbox is not None:
                self.outbox.host_nats(self.spec.cluster, None)
            try:
                # The acknowledgements still buffered go out before the connection closes.
                await asyncio.wait_for(nc.flush(), self.timeout)
            except Exception:
                logger.debug("managed consumer %s: flush before close failed", self.spec.name, exc_info=True)
            await nc.close()
            self.nc = None

    async def _process(self, messages: Sequence[Any]) -> None:
        spec = self.spec
        cluster, name, config, outbox, stream = spec.cluster, spec.name, self.config, self.outbox, spec.source
        if spec.concurrency > 1:
            by_subject: dict[str, list[Any]] = {}
            for msg in messages:
                by_subject.setdefault(msg.subject, []).append(msg)
            lanes = list(by_subject.values())
        else:
            lanes = [list(messages)]

        make = self._make
        if make is None:
            make = self._make = bound(NatsMessage, _stream_name=stream, cluster=cluster, consumer=name, config=config,
                                      outbox=outbox)  # fmt: skip

        open_ = {id(msg): msg for msg in messages}
        progress = asyncio.create_task(self._report_progress(open_))
        try:
            results = await asyncio.to_thread(self.run_lanes, lanes, make)
            assert self.outbox is not None
            failed = await asyncio.to_thread(self.outbox.confirm) if self.outbox.sent else {}
            dones, pause = self.settle(lanes, results, failed, in_order=False)
            for lane, result, done in zip(lanes, results, dones, strict=True):
                for index, msg in enumerate(lane):
                    del open_[id(msg)]
                    if index < result.done and id(msg) not in failed:
                        await msg.ack()
                    elif index == done and result.stopped_by == Outcome.STUCK:
                        continue  # left unacknowledged: the consumer is failing on it
                    else:
                        await msg.nak()
        finally:
            progress.cancel()
        self.count(results)
        if pause:
            await asyncio.to_thread(self.nap, pause)

    async def _report_progress(self, open_: dict[int, Any]) -> None:
        """Until cancelled: every third of ack_wait, each message not acknowledged yet is in progress."""
        every = max(self.ack_wait / 3, 0.1)
        while True:
            await asyncio.sleep(every)
            for msg in list(open_.values()):
                try:
                    await msg.in_progress()
                except nats.errors.Error:
                    logger.debug("managed consumer %s: in-progress report failed", self.spec.name, exc_info=True)


async def _quiet(exc: Exception) -> None:
    logger.debug("nats consumer: %s", exc)
