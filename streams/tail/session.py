"""One WebSocket's tail: the contract's actions in, its frames out, retries and the stall guard.

The socket endpoint (console/sockets.py) authenticates and hands every text frame
here; this class owns the subscription. A subscribe that meets an unreachable broker
sends an error frame and tries again by itself, with a growing pause, until it works
or the client asks for something else. Status frames go out every second while
something changes and at least every ``KEEPALIVE_SECONDS`` anyway (idle proxies close
quiet sockets). A socket whose oldest unacknowledged frame has waited longer than
``TAIL_STALL_SECONDS`` is closed with ``STALLED_CODE``, and so is one paused that long:
either way the socket holds a queue (and maybe a replay upstream) for nobody.

What a client sends is bounded too: a text frame holds at most ``MAX_FRAME_BYTES``;
frames that are answered (everything but acks) are limited to a burst of
``ACTION_BURST`` and ``ACTION_RATE`` a second after it, since each answer waits in the
WebSocket server's unbounded buffer when the client does not read (``TOO_MANY_CODE``);
an ack that does not echo its frame's token opens nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from django.conf import settings

from streams import jsontext
from streams.clusters import ClusterConfig
from streams.errors import BrokerUnavailable, InvalidInput, StreamdeskError
from streams.tail.hub import hub
from streams.tail.spec import TailSpec, names_system_subjects, parse_subscribe
from streams.tail.subscriber import Limits, Subscriber
from streams.tail.upstream import Started, Upstream, UpstreamEvent

logger = logging.getLogger("streams.tail")

STATUS_SECONDS = 1.0
KEEPALIVE_SECONDS = 5.0
RETRY_FIRST = 1.0
RETRY_MAX = 15.0
STALLED_CODE = 4408
TOO_MANY_CODE = 4429
MAX_FRAME_BYTES = 64 * 1024
ACTION_BURST = 50
ACTION_RATE = 5.0

SendText = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]


async def _anything(spec: TailSpec, *, recheck: bool = False) -> str | None:
    return None


# Why the socket's user may not tail a spec (None: they may); ``recheck``: asked again of a running tail.
Authorize = Callable[..., Awaitable[str | None]]


def _dump(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"), default=str)


def _oversized(text: str) -> bool:
    # Characters first: a UTF-8 character is 1 to 4 bytes, so most frames need no encoding to tell.
    if len(text) > MAX_FRAME_BYTES:
        return True
    return len(text) * 4 > MAX_FRAME_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES


class TailSession:
    def __init__(
        self,
        config: ClusterConfig,
        send: SendText,
        close: Close,
        *,
        limits: Limits | None = None,
        owner: Any = None,
        operator: bool = False,
        may_unmask: Callable[[TailSpec], Awaitable[bool]] | None = None,
        on_unmasked: Callable[[TailSpec], Coroutine[Any, Any, None]] | None = None,
        authorize: Authorize = _anything,
    ) -> None:
        self.config = config
        self._send = send
        self._close = close
        self.limits = limits or Limits.from_settings()
        self.stall_seconds = float(settings.TAIL_STALL_SECONDS)
        # The user whose replays count against their limit; operators also see system subjects.
        self.owner = owner
        self.operator = operator
        # Whether the user may see what masking rules cover, asked per subscription (masked when
        # there is no one to ask); an unmasked subscription that meets a covered message is audited once.
        self._may_unmask = may_unmask
        self._on_unmasked = on_unmasked
        self.authorize = authorize
        self._actions = float(ACTION_BURST)
        self._actions_at = time.monotonic()
        self.hub = hub()
        self.spec: TailSpec | None = None
        self.subscriber: Subscriber | None = None
        self.upstream: Upstream | None = None
        self.closed = False
        self._attaching: asyncio.Task[None] | None = None
        self._last_counts: tuple[int, ...] = ()
        self._status_at = time.monotonic()
        self._rate_at = self._status_at
        self._rate_matched = 0
        self._audits: set[asyncio.Task[None]] = set()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def send(self, frame: dict[str, Any]) -> None:
        if not self.closed:
            await self._send(_dump(frame))

    async def error(self, message: str, field: str | None = None, **extra: Any) -> None:
        await self.send({"type": "error", "error": message, "field": field, **extra})

    # -- client actions -------------------------------------------------------------------

    def set_operator(self, operator: bool) -> None:
        """The user's role as last checked: a socket that loses it stops seeing system subjects at once."""
        self.operator = operator
        if self.subscriber is not None:
            self.subscriber.hide_system = not operator

    async def recheck(self) -> None:
        """Ends the subscription once the policies no longer grant it (the socket stays open)."""
        spec = self.spec
        if spec is None:
            return
        refusal = await self.authorize(spec, recheck=True)
        if refusal is not None:
            await self.unsubscribe()
            await self.error(refusal, "name", status=403)

    def _spend_action(self) -> bool:
        """Take one answered frame from the client's budget; False when it is spent."""
        now = time.monotonic()
        self._actions = min(float(ACTION_BURST), self._actions + (now - self._actions_at) * ACTION_RATE)
        self._actions_at = now
        if self._actions < 1:
            return False
        self._actions -= 1
        return True

    async def receive(self, text: str | None) -> None:
        """One frame from the client: its text, or None for a binary frame."""
        if self.closed:
            return
        frame: Any = None
        if text is not None and not _oversized(text):
            try:
                frame = jsontext.loads(text)
            except ValueError:
                frame = None
        if isinstance(frame, dict) and frame.get("action") == "ack":
            await self._ack(frame)
            return
        if not self._spend_action():
            await self.shutdown()
            await self._close(TOO_MANY_CODE, f"More than {ACTION_RATE:g} frames a second; reconnect to go on.")
            return
        if text is None:
            await self.error("Frames must be JSON text.")
            return
        if frame is None:
            if _oversized(text):
                await self.error(f"Frames from the client are at most {MAX_FRAME_BYTES} bytes.")
            else:
                await self.error("That frame is not JSON.")
            return
        if not isinstance(frame, dict):
            await self.error("A frame must be a JSON object with an action.", "action")
            return
        action = frame.get("action")
        try:
            if action == "subscribe":
                spec = parse_subscribe(frame)
                if spec.source == "subject" and not self.operator and names_system_subjects(spec.name):
                    raise InvalidInput(
                        "Reply inboxes (_INBOX) and system subjects ($...) are shown to operators only.", field="name"
                    )
                refusal = await self.authorize(spec)
                if refusal is not None:
                    await self.error(refusal, "name", status=403)
                    return
                await self.subscribe(spec)
            elif action == "pause":
                if self.subscriber is not None:
                    self.subscriber.pause()
                await self.status()
            elif action == "resume":
                if self.subscriber is not None:
                    self.subscriber.resume()
                await self.status()
            elif action == "unsubscribe":
                await self.unsubscribe()
            else:
                raise InvalidInput("action must be subscribe, ack, pause, resume or unsubscribe.", field="action")
        except InvalidInput as exc:
            await self.error(exc.message, exc.field)

    async def _ack(self, frame: dict[str, Any]) -> None:
        # A refused ack gets no answer: answering would let a client that never reads grow the
        # server's buffer. The status frame counts them (refused_acks), the stall close names the token.
        seq = frame.get("seq")
        subscriber = self.subscriber
        if subscriber is not None and isinstance(seq, int) and not isinstance(seq, bool):
            subscriber.ack(seq, frame.get("token"))

    async def subscribe(self, spec: TailSpec) -> None:
        """Replace whatever this socket watched with ``spec``."""
        await self.unsubscribe()
        self.spec = spec
        self._attaching = asyncio.get_running_loop().create_task(self._attach(spec))

    async def unsubscribe(self) -> None:
        task, self._attaching = self._attaching, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self._detach()
        self.spec = None

    async def _detach(self) -> None:
        subscriber, upstream = self.subscriber, self.upstream
        self.subscriber = self.upstream = None
        if subscriber is not None:
            await subscriber.close()
            if upstream is not None:
                self.hub.detach(upstream, subscriber)

    async def _masks(self, spec: TailSpec) -> bool:
        if self._may_unmask is None:
            return True
        try:
            return not await self._may_unmask(spec)
        except Exception:  # the database is away: mask rather than fail the tail or show too much
            logger.warning("tail: could not ask whether the user may unmask; masking", exc_info=True)
            return True

    def _covered(self, spec: TailSpec) -> Callable[[], None]:
        def seen() -> None:
            if self._on_unmasked is not None and not self.closed:
                task = asyncio.get_running_loop().create_task(self._on_unmasked(spec))
                self._audits.add(task)
                task.add_done_callback(self._audits.discard)

        return seen

    async def refresh_unmask(self) -> None:
        """The user's right to unmask as it stands now: a socket that loses it masks from the next message."""
        spec, subscriber = self.spec, self.subscriber
        if spec is not None and subscriber is not None:
            subscriber.mask = await self._masks(spec)

    async def _attach(self, spec: TailSpec, *, notice: str | None = None) -> None:
        delay = RETRY_FIRST
        mask = await self._masks(spec)
        while not self.closed:
            subscriber = Subscriber(
                self.send_text,
                needle=spec.needle,
                limits=self.limits,
                on_event=self._on_event,
                hide_system=not self.operator,
                mask=mask,
                on_covered=self._covered(spec),
            )
            try:
                upstream = await self.hub.attach(self.config, spec, subscriber, owner=self.owner)
            except BrokerUnavailable as exc:
                await self.error(f"{exc.message} Retrying in {delay:g} s.", None, retrying=True, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                notice = notice or "The broker is reachable again."
                continue
            except StreamdeskError as exc:
                await self.error(exc.message, exc.field, retrying=False)
                self.spec = None
                return
            self.subscriber, self.upstream = subscriber, upstream
            self._rate_matched = 0
            self._rate_at = time.monotonic()
            await self.send(self._subscribed(spec, upstream.ready.result(), notice=notice))
            subscriber.start()
            return

    def _subscribed(self, spec: TailSpec, started: Started, *, notice: str | None) -> dict[str, Any]:
        return {
            "type": "subscribed",
            "source": spec.source,
            "name": spec.name,
            "from": spec.start.as_api(),
            "partitions": list(spec.partitions) if spec.partitions is not None else None,
            "subject": spec.subject,
            "keys": spec.keys,
            "filter": spec.filter,
            "filtered_on_server": spec.filter is not None,
            "start": started.position,
            "resumed": notice is not None,
            "notice": notice,
        }

    async def send_text(self, text: str) -> None:
        if not self.closed:
            await self._send(text)

    # -- upstream events (web loop) ---------------------------------------------------------

    def _on_event(self, event: UpstreamEvent) -> None:
        asyncio.get_running_loop().create_task(self._handle_event(event))

    async def _handle_event(self, event: UpstreamEvent) -> None:
        spec, upstream = self.spec, self.upstream
        if spec is None or upstream is None:
            return
        if event.kind == "down":
            await self.error(event.message, None, retrying=True)
        elif event.kind == "up":
            await self.send(self._subscribed(spec, upstream.ready.result(), notice=event.message))
        elif event.kind == "ended":
            await self._detach()
            if event.retryable:
                await self.error(f"{event.message} Subscribing again.", None, retrying=True)
                again = spec.starting(event.resume) if event.resume is not None else spec
                self.spec = again
                notice = (
                    event.message if event.resume is not None else f"{event.message} Messages may have been missed."
                )
                self._attaching = asyncio.get_running_loop().create_task(self._attach(again, notice=notice))
            else:
                self.spec = None
                await self.error(event.message, event.field, retrying=False)

    # -- status and the stall guard -------------------------------------------------------------

    async def status(self) -> None:
        now = time.monotonic()
        frame: dict[str, Any] = {
            "type": "status",
            "matched": 0,
            "scanned": 0,
            "total_dropped": 0,
            "rate": 0.0,
            "subscribed": self.subscriber is not None,
        }
        subscriber = self.subscriber
        if subscriber is not None:
            frame.update(subscriber.counts())
            elapsed = now - self._rate_at
            if elapsed >= 0.5:
                frame["rate"] = round((subscriber.matched - self._rate_matched) / elapsed, 1)
                self._rate_matched, self._rate_at = subscriber.matched, now
            frame["upstream"] = "down" if self.upstream is not None and self.upstream.down else "up"
            self._last_counts = (subscriber.matched, subscriber.total_dropped, subscriber.delivered, subscriber.paused)
        self._status_at = now
        await self.send(frame)

    async def _tick(self) -> None:
        while not self.closed:
            await asyncio.sleep(STATUS_SECONDS)
            subscriber = self.subscriber
            due = time.monotonic() - self._status_at >= KEEPALIVE_SECONDS
            try:
                if subscriber is not None:
                    waited, paused = subscriber.stalled_for(), subscriber.paused_for()
                    if waited > self.stall_seconds or paused > self.stall_seconds:
                        reason = (
                            f"No acknowledgement (echoing its frame's token) for {waited:.0f} s; reconnect to go on."
                            if waited > self.stall_seconds
                            else f"Paused for {paused:.0f} s; reconnect to go on."
                        )
                        await self.shutdown()
                        await self._close(STALLED_CODE, reason)
                        return
                    counts = (subscriber.matched, subscriber.total_dropped, subscriber.delivered, subscriber.paused)
                    # A client that does not read gets no more than the keepalive.
                    if subscriber.in_flight >= self.limits.window and not due:
                        continue
                    if counts != self._last_counts or due:
                        await self.status()
                elif due:
                    await self.status()
            except Exception:
                logger.debug("tail status failed", exc_info=True)

    async def shutdown(self) -> None:
        if self.closed:
            return
        await self.unsubscribe()
        self.closed = True
        if self._ticker is not asyncio.current_task():
            self._ticker.cancel()
