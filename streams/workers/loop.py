"""What both brokers' consumer loops share: the definition they run, handler calls with retries
and dead letters, counters, and the controls the runner turns (pause, stop).

One loop is one thread running one managed consumer in one process. Handler calls for one
Kafka partition (or one JetStream subject) happen one after another in order; ``concurrency``
lets that many partitions (subjects) be handled at once within a batch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from django.conf import settings

from streams.clusters import ClusterConfig
from streams.redact import redact_urls
from streams.workers import registry
from streams.workers.message import ORIGIN_PREFIX, Destination, HandlerConfig, Message
from streams.workers.models import ConsumerInstance, ManagedConsumer
from streams.workers.outputs import Failures, Outbox

logger = logging.getLogger("streams.workers")

State = ConsumerInstance.State
ERROR_HEADER_LIMIT = 1000
# Batches in a row whose sends failed for a reason that may pass (a broker away, a timeout)
# before the consumer shows ``failing``; it keeps trying, at most every SEND_RETRY_MAX_SECONDS.
SEND_RETRY_LIMIT = 5
SEND_RETRY_MAX_SECONDS = 30.0
REDO_LIMIT = 10_000


class SendFailed(Exception):
    """A send of the handler's that can never succeed as it is: a failure of the handler."""


@dataclass
class Redo:
    """A message handled again because its send failed for good: its attempts so far."""

    attempts: int
    error: SendFailed


def backoff_seconds(attempt: int, base_ms: int, max_ms: int) -> float:
    """The pause before retry ``attempt`` (1 = the first retry): doubling from ``base_ms``, capped."""
    if attempt < 1 or base_ms <= 0:
        return 0.0
    return min(base_ms * 2 ** min(attempt - 1, 30), max_ms) / 1000


@dataclass(frozen=True)
class Spec:
    """A managed consumer's definition as one loop runs it (a snapshot of the row)."""

    id: int
    name: str
    cluster: str
    source_kind: str
    source: str
    group: str
    filter_subject: str
    handler: str
    config: dict[str, Any]
    start: str
    batch_size: int
    concurrency: int
    max_retries: int
    retry_backoff_ms: int
    retry_backoff_max_ms: int
    dead_letter: Destination | None
    generation: int
    desired: str

    @classmethod
    def from_row(cls, row: ManagedConsumer) -> Spec:
        return cls(
            id=row.pk,
            name=row.name,
            cluster=row.cluster,
            source_kind=row.source_kind,
            source=row.source,
            group=row.group,
            filter_subject=row.filter_subject,
            handler=row.handler,
            config=dict(row.config or {}),
            start=row.start,
            batch_size=max(1, row.batch_size),
            concurrency=max(1, row.concurrency),
            max_retries=row.max_retries,
            retry_backoff_ms=row.retry_backoff_ms,
            retry_backoff_max_ms=row.retry_backoff_max_ms,
            dead_letter=Destination.from_config(row.dead_letter) if row.dead_letter else None,
            generation=row.generation,
            desired=row.desired,
        )

    @property
    def durable(self) -> str:
        """On a stream, the JetStream durable's name (kept in ``group``, as the row keeps it)."""
        return self.group


@dataclass
class Stats:
    """Counters since the loop started; the runner reads them for heartbeats."""

    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    handler_seconds: float = 0.0
    handler_calls: int = 0


class Outcome:
    DONE = "done"
    DEAD = "dead-lettered"
    STUCK = "stuck"  # failed past its retries with no dead-letter destination
    INTERRUPTED = "interrupted"  # paused or stopped while it waited to be retried


@dataclass
class LaneResult:
    """How far one lane (one partition's or subject's messages) got."""

    done: int = 0
    processed: int = 0
    dead: int = 0
    failed: int = 0
    seconds: float = 0.0
    stopped_by: str | None = None


@dataclass
class ErrorNote:
    message: str
    origin: dict[str, Any] | None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # Shown on the Workers page and in the API: broker errors may quote a server URL.
        self.message = redact_urls(self.message)


class ConsumerLoop(threading.Thread):
    """Runs one managed consumer until told to stop; subclasses talk to their broker."""

    def __init__(self, spec: Spec, resolve: Callable[[str], ClusterConfig], instance_id: str) -> None:
        super().__init__(name=f"consumer-{spec.name}", daemon=True)
        self.spec = spec
        self.resolve = resolve
        self.instance_id = instance_id
        self.stats = Stats()
        self.state: str = State.STARTING
        self.error: ErrorNote | None = None
        self.assignment: list[list[Any]] = []
        self.started_at = datetime.now(UTC)
        self._stop_requested = threading.Event()
        self._want_paused = spec.desired == ManagedConsumer.Desired.PAUSED
        self.stuck = False
        # Lanes look at this one flag between messages: pause, stop or a stuck message.
        self.halt = self._want_paused
        self.handler: registry.HandlerSpec | None = None
        self.config = HandlerConfig(spec.config)
        self.outbox: Outbox | None = None
        self._aio: asyncio.AbstractEventLoop | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.timeout = max(settings.BROKER_TIMEOUT_SECONDS, 1.0) * 3
        # Across batches, by message coordinates: messages to handle again as failures (their
        # send failed for good), and messages whose sends were confirmed but which come again
        # (after an earlier message of their lane failed): not handled twice.
        self.redo: dict[Hashable, Redo] = {}
        self.already_sent: set[Hashable] = set()
        # Within a batch, by token: attempts of messages done after a retry; dead letters sent.
        self._attempts: dict[int, int] = {}
        self._dead_letters: dict[int, tuple[dict[str, Any], int]] = {}
        self.send_failures = 0

    # -- controls (called from the runner's thread) ---------------------------------------------

    @property
    def want_paused(self) -> bool:
        return self._want_paused

    @property
    def stopping(self) -> bool:
        return self._stop_requested.is_set()

    def set_paused(self, paused: bool) -> None:
        self._want_paused = paused
        self._update_halt()

    def request_stop(self) -> None:
        self._stop_requested.set()
        self._update_halt()

    def _update_halt(self) -> None:
        self.halt = self._want_paused or self.stopping or self.stuck

    def wait(self, seconds: float) -> bool:
        """Sleep unless told to stop; True when stopping."""
        return self._stop_requested.wait(seconds)

    def nap(self, seconds: float) -> None:
        """Sleep unless told to pause or stop (a pause is felt at once, not after the nap)."""
        deadline = time.monotonic() + seconds
        while not self.halt and not self.wait(min(0.05, max(deadline - time.monotonic(), 0))):
            if time.monotonic() >= deadline:
                return

    # -- the thread ---------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            try:
                self.handler = registry.get(self.spec.handler)
                problem = registry.config_problem(self.handler, self.spec.config)
                if problem:
                    raise registry.HandlerProblem(
                        f"The config does not fit handler {self.spec.handler}'s schema: {problem}."
                    )
            except registry.HandlerProblem as exc:
                self.fail(str(exc), None)
                self._stop_requested.wait()
                return
            self.outbox = Outbox(self.resolve, f"streamdesk-{self.spec.name}", self.timeout)
            failures = 0
            while not self.stopping:
                try:
                    self.run_client()
                    if self.stuck:
                        self._stop_requested.wait()
                    break
                except Exception as exc:
                    failures += 1
                    logger.exception("managed consumer %s: its client failed", self.spec.name)
                    self.fail(f"{exc.__class__.__name__}: {exc}", None, sticky=False)
                    self.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))
        finally:
            self.state = State.STOPPED
            self.assignment = []
            if self.outbox is not None:
                self.outbox.close()
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            if self._aio is not None:
                self._aio.close()

    def run_client(self) -> None:
        raise NotImplementedError

    def fail(self, message: str, origin: dict[str, Any] | None, *, sticky: bool = True) -> None:
        """Failing: shown on the page with the message's coordinates; sticky until a restart."""
        logger.warning("managed consumer %s is failing: %s", self.spec.name, message)
        self.error = ErrorNote(message, origin)
        self.state = State.FAILING
        if sticky:
            self.stuck = True
            self._update_halt()

    def note_error(self, message: str, origin: dict[str, Any] | None) -> None:
        self.error = ErrorNote(message, origin)

    @property
    def troubled(self) -> bool:
        """Failing without being stuck: sends keep failing; the loop keeps trying."""
        return self.send_failures >= SEND_RETRY_LIMIT

    def coordinates(self, raw: Any) -> Hashable:
        """Where a client message is in its source (what comes again when it is redelivered)."""
        raise NotImplementedError

    # -- after a batch's sends are confirmed ----------------------------------------------------------

    def settle(
        self, lanes: Sequence[Sequence[Any]], results: Sequence[LaneResult], failed: Failures, *, in_order: bool
    ) -> tuple[list[int], float]:
        """How many messages of each lane, from its start, are done (their sends confirmed), and
        how long to wait before going on.

        A transient send failure has its message handled again as it is; a permanent one makes
        the message a handler failure (``redo``: retried with backoff, then dead-lettered). A dead
        letter that fails for good stops the consumer on its message (``failing``). With
        ``in_order`` (Kafka: a commit covers everything before it) the messages after a failed one
        whose sends went through are remembered, so that they are not sent again when they come back.
        """
        dones: list[int] = []
        transient = None
        for lane, result in zip(lanes, results, strict=True):
            done = result.done
            if failed:
                first: int | None = None
                for index in range(result.done):
                    token = id(lane[index])
                    failure = failed.get(token)
                    if failure is None:
                        if first is not None and in_order:
                            self.already_sent.add(self.coordinates(lane[index]))
                        continue
                    result.processed = max(0, result.processed - 1)
                    if first is None:
                        first = index
                    if not failure.permanent:
                        transient = transient or failure
                    elif token in self._dead_letters:
                        origin, attempts = self._dead_letters[token]
                        self.fail(
                            f"the dead letter could not be sent either: {failure.reason} (after {attempts} "
                            f"attempt{'s' if attempts != 1 else ''}; the consumer stops on this message)",
                            origin,
                        )
                        result.stopped_by = Outcome.STUCK
                        done = index
                        break
                    else:
                        error = SendFailed(failure.reason)
                        self.redo[self.coordinates(lane[index])] = Redo(self._attempts.get(token, 1), error)
                if first is not None:
                    done = min(done, first)
            dones.append(done)
        self._attempts.clear()
        self._dead_letters.clear()
        if len(self.redo) > REDO_LIMIT:
            # Redelivered elsewhere (JetStream), never to come back here: the oldest go first.
            for where in list(self.redo)[: len(self.redo) - REDO_LIMIT]:
                del self.redo[where]
        pause = 0.0
        if transient is not None:
            self.send_failures += 1
            n = self.send_failures
            if self.troubled:
                reason = f"sends keep failing ({n} times in a row; still trying): {transient.reason}"
                self.fail(reason, None, sticky=False)
            else:
                self.note_error(f"a send failed, the message will be handled again: {transient.reason}", None)
            pause = min(SEND_RETRY_MAX_SECONDS, 0.5 * 2 ** (n - 1))
        elif self.send_failures:
            self.send_failures = 0
            if self.state == State.FAILING and not self.stuck:
                self.state = State.RUNNING
        return dones, pause

    def forget(self, test: Callable[[Hashable], bool]) -> None:
        """Drop what is remembered of messages that are no longer this loop's (a revoked partition)."""
        for where in [w for w in self.redo if test(w)]:
            del self.redo[where]
        self.already_sent = {w for w in self.already_sent if not test(w)}

    # -- handler calls ----------------------------------------------------------------------------------

    def run_lanes(self, lanes: Sequence[Sequence[Any]], make: Callable[[Any], Message]) -> list[LaneResult]:
        """Each lane in order; up to ``concurrency`` lanes at once."""
        assert self.handler is not None
        if self.handler.is_async:
            return self._run_async_lanes(lanes, make)
        if self.spec.concurrency == 1 or len(lanes) == 1:
            return [self.run_lane(lane, make) for lane in lanes]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.spec.concurrency, thread_name_prefix=f"handler-{self.spec.name}")
        return list(self._pool.map(lambda lane: self.run_lane(lane, make), lanes))

    def run_lane(self, lane: Sequence[Any], make: Callable[[Any], Message]) -> LaneResult:
        assert self.handler is not None
        func = self.handler.func
        result = LaneResult()
        started = time.perf_counter()
        # Both are only changed between batches: when empty now, no message of the lane is in them.
        again = bool(self.redo or self.already_sent)
        clean = 0  # messages handled at the first call, counted into the result at the end
        # A handler may handle a whole lane in one call (the built-in forward): what it leaves
        # (a message it could not send) goes on one by one, with retries as usual.
        whole = getattr(func, "lane", None)
        if whole is not None and not again and not self.halt and lane:
            clean = whole(make, lane)
            lane = lane[clean:]
        try:
            for raw in lane:
                if self.halt:
                    result.stopped_by = Outcome.INTERRUPTED
                    break
                if again:
                    entry = self._again(raw, result)
                    if entry is True:
                        continue
                    if entry is not None:
                        message = make(raw)
                        message.attempt = entry.attempts
                        outcome = self._after_failure(message, entry.error, result)
                        if outcome in (Outcome.STUCK, Outcome.INTERRUPTED):
                            self._interrupted(raw, message, entry, outcome)
                            result.stopped_by = outcome
                            break
                        result.done += 1
                        continue
                message = make(raw)
                try:
                    func(message)
                except Exception as exc:  # noqa: BLE001 - a handler may raise anything
                    outcome = self._after_failure(message, exc, result)
                    if outcome in (Outcome.STUCK, Outcome.INTERRUPTED):
                        result.stopped_by = outcome
                        break
                    result.done += 1
                    continue
                clean += 1
        finally:
            result.done += clean
            result.processed += clean
            result.seconds = time.perf_counter() - started
        return result

    def _again(self, raw: Any, result: LaneResult) -> Redo | Literal[True] | None:
        """A message that comes again: True when its sends went through already (it is done),
        its ``Redo`` when its send failed for good, else None."""
        where = self.coordinates(raw)
        if where in self.already_sent:
            self.already_sent.discard(where)
            result.done += 1
            return True
        return self.redo.pop(where, None)

    def _interrupted(self, raw: Any, message: Message, entry: Redo, outcome: str) -> None:
        if outcome == Outcome.INTERRUPTED:
            self.redo[self.coordinates(raw)] = Redo(message.attempt, entry.error)

    def _after_failure(self, message: Message, exc: Exception, result: LaneResult, retry: Any = None) -> str:
        """Retries with backoff, then the dead letter (or failing); the message's outcome."""
        assert self.handler is not None
        spec = self.spec
        while True:
            result.failed += 1
            if isinstance(exc, registry.DeadLetter) or message.attempt > spec.max_retries:
                return self._give_up(message, exc, result)
            self.note_error(_describe(exc), message.origin())
            pause = backoff_seconds(message.attempt, spec.retry_backoff_ms, spec.retry_backoff_max_ms)
            deadline = time.monotonic() + pause
            while time.monotonic() < deadline:
                if self.halt:
                    return Outcome.INTERRUPTED
                self.keep_alive(message)
                time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
            if self.halt:
                return Outcome.INTERRUPTED
            message.attempt += 1
            try:
                if retry is not None:
                    retry(message)
                else:
                    self.handler.func(message)
            except Exception as again:  # noqa: BLE001 - a handler may raise anything
                exc = again
                continue
            # Should a send of this attempt fail for good, the next attempt counts on from here.
            self._attempts[id(message._msg)] = message.attempt
            result.processed += 1
            return Outcome.DONE

    def _give_up(self, message: Message, exc: Exception, result: LaneResult) -> str:
        assert self.handler is not None and self.outbox is not None
        reason = _describe(exc)
        if self.spec.dead_letter is None:
            self.fail(
                f"{reason} (after {message.attempt} attempt{'s' if message.attempt != 1 else ''}; "
                "no dead-letter destination, so the consumer stops on this message)",
                message.origin(),
            )
            return Outcome.STUCK
        headers = [*message.headers, *dead_letter_headers(message, reason, self.handler.name)]
        self._dead_letters[id(message._msg)] = (message.origin(), message.attempt)
        self.outbox.send(self.spec.dead_letter, message.key, message.value, headers, id(message._msg))
        self.note_error(f"dead-lettered: {reason}", message.origin())
        result.dead += 1
        return Outcome.DEAD

    def keep_alive(self, message: Message) -> None:
        """Called while a message waits to be retried (JetStream: tell the server it is in progress)."""

    # -- async handlers ----------------------------------------------------------------------------------

    def _run_async_lanes(self, lanes: Sequence[Sequence[Any]], make: Callable[[Any], Message]) -> list[LaneResult]:
        if self._aio is None:
            self._aio = asyncio.new_event_loop()
        gate = asyncio.Semaphore(self.spec.concurrency)

        async def guarded(lane: Sequence[Any]) -> LaneResult:
            async with gate:
                return await self._async_lane(lane, make)

        async def main() -> list[LaneResult]:
            return list(await asyncio.gather(*(guarded(lane) for lane in lanes)))

        return self._aio.run_until_complete(main())

    async def _async_lane(self, lane: Sequence[Any], make: Callable[[Any], Message]) -> LaneResult:
        assert self.handler is not None
        func = self.handler.func
        result = LaneResult()
        started = time.perf_counter()
        loop = asyncio.get_running_loop()

        # Retries wait in a thread so that other lanes keep going; each retry runs on this loop.
        def retry(m: Message) -> None:
            asyncio.run_coroutine_threadsafe(func(m), loop).result()

        try:
            for raw in lane:
                if self.halt:
                    result.stopped_by = Outcome.INTERRUPTED
                    break
                if self.redo or self.already_sent:
                    entry = self._again(raw, result)
                    if entry is True:
                        continue
                    if entry is not None:
                        message = make(raw)
                        message.attempt = entry.attempts
                        outcome = await asyncio.to_thread(self._after_failure, message, entry.error, result, retry)
                        if outcome in (Outcome.STUCK, Outcome.INTERRUPTED):
                            self._interrupted(raw, message, entry, outcome)
                            result.stopped_by = outcome
                            break
                        result.done += 1
                        continue
                message = make(raw)
                try:
                    await func(message)
                except Exception as exc:  # noqa: BLE001 - a handler may raise anything
                    outcome = await asyncio.to_thread(self._after_failure, message, exc, result, retry)
                    if outcome in (Outcome.STUCK, Outcome.INTERRUPTED):
                        result.stopped_by = outcome
                        break
                    result.done += 1
                    continue
                result.done += 1
                result.processed += 1
        finally:
            result.seconds = time.perf_counter() - started
        return result

    def count(self, results: Sequence[LaneResult]) -> None:
        stats = self.stats
        for r in results:
            stats.processed += r.processed
            stats.dead_lettered += r.dead
            stats.failed += r.failed
            stats.handler_seconds += r.seconds
            stats.handler_calls += r.processed + r.failed


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, registry.DeadLetter):
        return f"DeadLetter: {text}"
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" ({frame[0].filename.rsplit('/', 1)[-1]}:{frame[0].lineno})" if frame else ""
    return f"{exc.__class__.__name__}: {text}{where}"


DLQ_ERROR = "streamdesk-error"
DLQ_HANDLER = "streamdesk-handler"
DLQ_CONSUMER = "streamdesk-consumer"
DLQ_ATTEMPTS = "streamdesk-attempts"
DLQ_AT = "streamdesk-dead-lettered-at"


def dead_letter_headers(message: Message, reason: str, handler_name: str) -> list[tuple[str, bytes]]:
    """The headers a dead letter carries besides the original ones."""
    headers = [
        (DLQ_ERROR, reason[:ERROR_HEADER_LIMIT].encode("utf-8", "replace")),
        (DLQ_HANDLER, handler_name.encode()),
        (DLQ_CONSUMER, message.consumer.encode()),
        (DLQ_ATTEMPTS, str(message.attempt).encode()),
        (DLQ_AT, datetime.now(UTC).isoformat(timespec="milliseconds").encode()),
    ]
    headers += [(ORIGIN_PREFIX + name, str(value).encode()) for name, value in message.origin().items()]
    return headers
