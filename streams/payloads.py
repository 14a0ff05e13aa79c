"""Binary-safe, bounded rendering of message bodies, keys and headers.

Broker data is hostile: it may be any size, any encoding, or not text at all.
The API form is ``{"text": str|None, "base64": str}`` plus a ``truncated`` flag;
the page form adds a pretty-printed JSON view and a hex dump. A masked payload
(streams.masking) holds its masked text instead of the bytes as read: it answers
``"base64": null`` and ``"masked": true`` and has no hex.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from streams import jsontext

if TYPE_CHECKING:
    from streams.schemas.decode import DecodeResult

DISPLAY_LIMIT = 64 * 1024
HEX_LIMIT = 4 * 1024

T = TypeVar("T")


class _once(Generic[T]):
    """A property worked out on first use and kept on the instance: ``functools.cached_property``
    without the lock Python 3.11 takes on each first read (a page has thousands of payloads)."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _once[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> T | _once[T]:
        if obj is None:
            return self
        value = self.func(obj)
        obj.__dict__[self.name] = value
        return value


@dataclass(frozen=True)
class Payload:
    raw: bytes | None
    size: int
    truncated: bool
    # What a schema made of it (streams.schemas.decode); None where no decoder has looked.
    decoding: DecodeResult | None = field(default=None, compare=False)
    # ``raw`` then holds the masked text (UTF-8), never the bytes as read.
    masked: bool = False

    def with_decoding(self, decoding: DecodeResult) -> Payload:
        return Payload(self.raw, self.size, self.truncated, decoding)

    # The views below are read more than once by a page (a test, then the text): worked out once.
    @_once
    def decoded_pretty(self) -> str | None:
        if self.decoding is None or self.decoding.decoded is None:
            return None
        try:
            return jsontext.dumps_pretty(self.decoding.decoded.data)
        except ValueError:
            return None

    @classmethod
    def of(cls, data: bytes | str | None, limit: int | None = DISPLAY_LIMIT) -> Payload:
        if data is None:
            return cls(raw=None, size=0, truncated=False)
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        size = len(data)
        if limit is not None and size > limit:
            return cls(raw=data[:limit], size=size, truncated=True)
        return cls(raw=data, size=size, truncated=False)

    @_once
    def text(self) -> str | None:
        if self.raw is None:
            return None
        try:
            return self.raw.decode("utf-8")
        except UnicodeDecodeError:
            if self.truncated:
                # The cut may have split a multi-byte character: drop up to 3 trailing bytes.
                for cut in range(1, 4):
                    try:
                        return self.raw[:-cut].decode("utf-8")
                    except UnicodeDecodeError:
                        continue
            return None

    @property
    def b64(self) -> str:
        if self.masked:
            return ""
        return binascii.b2a_base64(self.raw or b"", newline=False).decode("ascii")

    @property
    def is_binary(self) -> bool:
        return self.raw is not None and self.text is None

    @_once
    def pretty_json(self) -> str | None:
        text = self.text
        if text is None or self.truncated or text.lstrip()[:1] not in ("{", "["):
            return None
        try:
            # Nesting too deep to parse (or to write out again) is shown raw, like any other non-JSON.
            return jsontext.dumps_pretty(jsontext.loads(text))
        except ValueError:
            return None

    @property
    def hex(self) -> str:
        if self.masked:
            return ""
        data = (self.raw or b"")[:HEX_LIMIT]
        return " ".join(f"{byte:02x}" for byte in data)

    def as_api(self) -> dict[str, Any] | None:
        if self.raw is None:
            return None
        if self.masked:
            shown: dict[str, Any] = {"text": self.text, "base64": None, "masked": True}
        else:
            shown = {"text": self.text, "base64": self.b64}
        if self.decoding is not None:
            shown.update(self.decoding.as_api())
        return shown


def header_pairs(headers: Any, limit: int = 4096) -> list[tuple[str, Payload]]:
    """Normalise headers from either client into ``[(name, Payload)]``."""
    if not headers:
        return []
    items = headers.items() if isinstance(headers, dict) else headers
    pairs: list[tuple[str, Payload]] = []
    for name, value in items:
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        values = value if isinstance(value, list) else [value]
        for one in values:
            pairs.append((str(name)[:256], Payload.of(one, limit)))
    return pairs


def headers_api(pairs: list[tuple[str, Payload]]) -> list[list[Any]]:
    return [[name, payload.as_api()] for name, payload in pairs]


# The most of one value a single-message view shows, even when asked for all of it.
FULL_DISPLAY_LIMIT = 8 * 1024 * 1024
