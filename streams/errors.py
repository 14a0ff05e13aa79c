"""The typed errors every layer raises; the web layer maps each to one HTTP status."""

from __future__ import annotations

from streams.redact import redact_urls


class StreamdeskError(Exception):
    """Its message is shown to users (pages, the API, audit), so URL credentials never reach it."""

    status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        message = redact_urls(message)
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(StreamdeskError):
    """Bad input from the user: 400 naming the field."""

    status = 400


class NotFound(StreamdeskError):
    status = 404


class Conflict(StreamdeskError):
    status = 409


class BrokerUnavailable(StreamdeskError):
    """The broker did not answer in time or refused the connection: 503."""

    status = 503


class NotSupported(StreamdeskError):
    """The broker does not implement this operation (older server, partial Kafka protocol)."""

    status = 501


class BrokerError(StreamdeskError):
    """The broker answered with an error that is neither of the above."""

    status = 502


class NoAnswer(StreamdeskError):
    """A request-reply got no reply in time (the responders exist but did not answer): 504."""

    status = 504
