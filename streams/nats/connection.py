"""One nats-py connection per cluster per process, on a private loop, with deadlines.

nats-py binds a connection to the loop that made it, so the connection owns a
private loop thread (``LoopThread``) and every call is submitted there with a
deadline. The connection is made lazily and again after a failure, with a
growing pause between attempts, so a server that comes back is used without a
restart and a dead one costs each request at most one timeout. Cached answers
are dropped the moment the client loses the server.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import httpx
import nats
from django.conf import settings
from nats.aio.client import Client as NatsClient
from nats.errors import ConnectionClosedError, NoRespondersError, NoServersError, SlowConsumerError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from streams import jsontext
from streams.clusters import ClusterConfig
from streams.errors import BrokerError, BrokerUnavailable, NotFound, NotSupported, StreamdeskError
from streams.health import ClusterHealth, measure
from streams.nats.loopthread import LoopThread
from streams.redact import redact_urls
from streams.ttlcache import TTLCache

T = TypeVar("T")
logger = logging.getLogger("streams.nats")

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


def connect_options(config: ClusterConfig, timeout: float) -> dict[str, Any]:
    """nats-py connect() arguments for a cluster, auth and TLS included (no callbacks)."""
    options: dict[str, Any] = {
        "servers": list(config.servers),
        "name": "streamdesk",
        "connect_timeout": timeout,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": RECONNECT_TIME_WAIT,
        "ping_interval": 20,
    }
    if config.username:
        options["user"] = config.username
        options["password"] = config.password
    if config.token:
        options["token"] = config.token
    if config.nkey_seed:
        options["nkeys_seed_str"] = config.nkey_seed
    if config.creds_file:
        options["user_credentials"] = config.creds_file
    if config.tls_ca_file or config.tls_cert_file:
        context = ssl.create_default_context(cafile=config.tls_ca_file or None)
        if config.tls_cert_file:
            context.load_cert_chain(config.tls_cert_file, config.tls_key_file or None)
        options["tls"] = context
    return options


class NatsConnection:
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
        # Subscription id -> what to call when nats-py drops one of its messages (live tail counts them).
        self.slow_consumer_handlers: dict[int, Callable[[], None]] = {}

    # -- connection management (runs on the private loop) -----------------------------

    def _connect_options(self) -> dict[str, Any]:
        options = connect_options(self.config, self.timeout)
        options["error_cb"] = self._on_error
        options["disconnected_cb"] = self._on_disconnect
        return options

    async def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, SlowConsumerError):
            handler = self.slow_consumer_handlers.get(exc.sid)
            if handler is not None:
                handler()
                return
        self._last_error = redact_urls(str(exc)) or exc.__class__.__name__
        logger.debug("nats %s: %s", self.config.slug, self._last_error)

    async def _on_disconnect(self) -> None:
        # Whatever was cached describes a server this process can no longer see.
        self.cache.invalidate()
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
                self._last_error = redact_urls(str(exc)) or exc.__class__.__name__
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
        except StreamdeskError as exc:
            if isinstance(exc, BrokerUnavailable):
                self.cache.invalidate()
            raise
        except Exception as exc:
            error = translate(exc, what)
            if isinstance(error, BrokerUnavailable):
                self.cache.invalidate()
            raise error from exc

    async def with_client(
        self, work: Callable[[NatsClient], Awaitable[T]], *, what: str, timeout: float | None = None
    ) -> T:
        """Run ``work(client)`` on the connection's loop, connecting first, with a deadline."""

        async def run() -> T:
            return await work(await self._client())

        return await self.call(run, what=what, timeout=timeout)

    async def monitor(self, endpoint: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET a monitoring endpoint (varz, connz, subsz, jsz, ...) as JSON."""
        if not self.config.monitor_url:
            raise NotSupported("NATS monitoring is not configured for this cluster (set NATS_MONITOR_URL)")
        url = self.config.monitor_url.rstrip("/") + "/" + endpoint

        async def fetch() -> dict[str, Any]:
            response = await self.http().get(url, params=params)
            response.raise_for_status()
            data = jsontext.loads(response.content)
            if not isinstance(data, dict):
                raise BrokerError(f"monitoring {endpoint} answered something that is not an object")
            return data

        return await self.call(fetch, what=f"monitoring {endpoint}")

    async def ping(self) -> ClusterHealth:
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

        return await measure(self.config, lambda: self.call(roundtrip, what="ping"))

    def server_version(self) -> str | None:
        info = getattr(self._nc, "_server_info", None) or {}
        return str(info.get("version") or "") or None

    def invalidate(self, *prefix: Hashable) -> None:
        """Forget cached answers (all of them, or those under ``prefix``)."""
        self.cache.invalidate(tuple(prefix) if prefix else None)

    def _ttl(self) -> float:
        return float(settings.BROKER_CACHE_SECONDS)

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
