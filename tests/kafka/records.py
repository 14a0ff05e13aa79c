"""A stand-in for a confluent-kafka ``Message``: the accessors the code under test reads, for pure logic."""

from __future__ import annotations

from typing import Any


class FakeRecord:
    def __init__(
        self,
        value: bytes | None,
        key: bytes | None = b"k",
        headers: Any = None,
        stamp: tuple[int, int] = (1, 1_700_000_000_000),
        *,
        topic: str = "orders",
        partition: int = 2,
        offset: int = 41,
    ) -> None:
        self._value, self._key, self._headers, self._stamp = value, key, headers, stamp
        self._topic, self._partition, self._offset = topic, partition, offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> Any:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return self._stamp

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset
