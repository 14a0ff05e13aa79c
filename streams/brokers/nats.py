"""NATS adapter on nats-py, with the server's HTTP monitoring endpoints beside it.

nats-py binds a connection to the loop that made it, so the adapter owns a
private loop thread (``LoopThread``) and every call is submitted there with a
deadline. The connection is made lazily and again after a failure, with a
growing pause between attempts, so a server that comes back is used without a
restart and a dead one costs each request at most one timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import nats
from django.conf import settings
from nats.aio.client import Client as NatsClient
from nats.errors import ConnectionClosedError, NoServersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from streams.brokers.base import (
    BrokerError,
    BrokerUnavailable,
    ClusterHealth,
    NotFound,
    NotSupported,
)
from streams.brokers.loopthread import LoopThread
from streams.clusters import ClusterConfig

T = TypeVar("T")
logger = logging.getLogger("streams.brokers.nats")

MAX_BACKOFF_SECONDS = 10.0


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


class NatsAdapter:
    kind = "nats"

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.timeout = settings.BROKER_TIMEOUT_SECONDS
        self._loop = LoopThread(name=f"nats-{config.slug}")
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._http: httpx.AsyncClient | None = None
        self._next_attempt = 0.0
        self._failures = 0
        self._last_error = ""

    # -- connection management (runs on the private loop) -----------------------------

    def _connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "servers": list(self.config.servers),
            "name": "streamdesk",
            "connect_timeout": self.timeout,
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 1,
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
        logger.debug("nats %s: %s", self.config.slug, exc)

    async def _on_disconnect(self) -> None:
        logger.info("nats %s: disconnected, reconnecting in the background", self.config.slug)

    async def _client(self) -> NatsClient:
        nc = self._nc
        if nc is not None and not nc.is_closed:
            if nc.is_connected:
                return nc
            raise BrokerUnavailable(f"NATS connection lost; reconnecting ({self._last_error or 'server gone'})")
        now = time.monotonic()
        if now < self._next_attempt:
            raise BrokerUnavailable(f"NATS is unreachable: {self._last_error}")
        try:
            # max_reconnect_attempts applies to the first connect too; cap it so that a
            # dead server fails this call instead of retrying forever.
            options = self._connect_options()
            options["max_reconnect_attempts"] = 0
            nc = await nats.connect(**options)
        except Exception as exc:
            self._failures += 1
            self._last_error = str(exc) or exc.__class__.__name__
            self._next_attempt = now + min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (self._failures - 1))
            raise BrokerUnavailable(f"NATS is unreachable: {self._last_error}") from exc
        # From here on, reconnect forever in the background.
        nc.options["max_reconnect_attempts"] = -1
        self._failures = 0
        self._nc = nc
        self._js = nc.jetstream(timeout=self.timeout)
        return nc

    async def jetstream(self) -> JetStreamContext:
        await self._client()
        assert self._js is not None
        return self._js

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._http

    # -- the public surface (called from any loop) ----------------------------------

    async def call(self, factory: Callable[[], Awaitable[T]], *, what: str, timeout: float | None = None) -> T:
        """Run ``factory()`` on the adapter loop with a deadline and typed errors."""
        try:
            return await self._loop.run(factory, (timeout or self.timeout) + 0.5)
        except (BrokerUnavailable, NotFound, NotSupported, BrokerError):
            raise
        except Exception as exc:
            raise translate(exc, what) from exc

    def call_sync(self, factory: Callable[[], Awaitable[T]], *, what: str, timeout: float | None = None) -> T:
        try:
            return self._loop.call(factory, (timeout or self.timeout) + 0.5)
        except (BrokerUnavailable, NotFound, NotSupported, BrokerError):
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
            await nc.flush(timeout=max(1, round(self.timeout)))
            info = getattr(nc, "_server_info", None) or {}
            return str(info.get("version") or "") or None

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
