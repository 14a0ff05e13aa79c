"""What an operator asks to publish, turned into bytes: value encodings, headers, limits,
and the placeholders of bulk publishing.

Bad input is a 400 that names the field and, for JSON, the position of the error.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streams import jsontext
from streams.errors import InvalidInput

ENCODINGS = ("text", "json", "base64")
KEY_ENCODINGS = ("text", "base64")
MAX_HEADERS = 100
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 64 * 1024


@dataclass(frozen=True)
class Outgoing:
    """One message as it goes to the broker."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def size(self) -> int:
        return len(self.key or b"") + len(self.value or b"") + sum(len(n) + len(v) for n, v in self.headers)


def json_problem(text: str) -> str | None:
    """Why ``text`` is not JSON, with the line and column, or None when it is."""
    try:
        jsontext.loads(text)
    except json.JSONDecodeError as exc:
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno} (character {exc.pos})"
    except jsontext.TooDeep as exc:
        return str(exc)
    return None


def encode(raw: Any, encoding: str, field: str) -> bytes | None:
    """A text field as the bytes to send: UTF-8 text, validated JSON, or base64-decoded binary."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidInput(f"{field} must be a string (or null).", field=field)
    if encoding == "base64":
        try:
            return base64.b64decode(raw.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise InvalidInput(f"{field} is not valid base64.", field=field) from None
    if encoding == "json":
        problem = json_problem(raw)
        if problem:
            raise InvalidInput(f"{field} is not valid JSON: {problem}.", field=field)
    return raw.encode("utf-8")


def parse_headers(raw: Any, field: str = "headers") -> tuple[tuple[str, bytes], ...]:
    """``[[name, value], ...]`` (the API), ``{"name": "value"}``, or ``Name: value`` lines (a form)."""
    if raw in (None, "", []):
        return ()
    pairs: list[tuple[Any, Any]]
    if isinstance(raw, str):
        pairs = []
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise InvalidInput(f"{field} line {number} is not 'Name: value'.", field=field)
            pairs.append((name.strip(), value.strip()))
    elif isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = []
        for item in raw:
            if not isinstance(item, list | tuple) or len(item) != 2:
                raise InvalidInput(f"{field} must be a list of [name, value] pairs.", field=field)
            pairs.append((item[0], item[1]))
    else:
        raise InvalidInput(f"{field} must be a list of [name, value] pairs.", field=field)
    if len(pairs) > MAX_HEADERS:
        raise InvalidInput(f"{field} has more than {MAX_HEADERS} entries.", field=field)
    out = []
    for name, value in pairs:
        if not isinstance(name, str) or not name or len(name) > MAX_HEADER_NAME:
            raise InvalidInput(
                f"{field}: a header name must be a string of 1 to {MAX_HEADER_NAME} characters.", field=field
            )
        if any(ch in name for ch in ":\r\n") or any(ord(ch) < 32 for ch in name):
            raise InvalidInput(f"{field}: {name[:40]!r} is not a valid header name.", field=field)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidInput(f"{field}: the value of {name[:40]} must be a string.", field=field)
        if len(value) > MAX_HEADER_VALUE:
            raise InvalidInput(f"{field}: the value of {name[:40]} is too long.", field=field)
        out.append((name, value.encode("utf-8")))
    return tuple(out)


def check_size(message: Outgoing, limit: int, what: str) -> None:
    if message.size > limit:
        field = "value" if len(message.value or b"") >= len(message.key or b"") else "key"
        raise InvalidInput(f"The message is {message.size:,} bytes; {what} takes at most {limit:,}.", field=field)


# -- bulk placeholders ---------------------------------------------------------------

# A placeholder is ``{{name}}`` or ``{{name:argument}}`` (whitespace allowed inside the braces);
# anything else, an unclosed ``{{a:`` included, is literal text.
OPENING = re.compile(r"\{\{\s*([a-z_]+)")
MAX_ARGUMENT = 1000
MAX_PLACEHOLDERS = 1000
PLACEHOLDERS = {
    "i": "the message's 0-based index",
    "n": "the message's 1-based number",
    "uuid": "a random UUID",
    "timestamp": "the time of sending, ISO 8601 UTC",
    "timestamp_ms": "the time of sending, epoch milliseconds",
    "random": "one of the choices, e.g. {{random:red|green|blue}}",
    "randint": "an integer in a range, e.g. {{randint:1:100}}",
}


def _part(name: str, arg: str | None, field: str, rng: random.Random) -> Callable[[int], str]:
    if name == "i":
        return str
    if name == "n":
        return lambda i: str(i + 1)
    if name == "uuid":
        return lambda i: str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if name == "timestamp":
        return lambda i: datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if name == "timestamp_ms":
        return lambda i: str(int(time.time() * 1000))
    if name == "random":
        choices = [c for c in (arg or "").split("|")]
        if not arg or not choices:
            raise InvalidInput(f"{field}: {{{{random:a|b|c}}}} needs choices.", field=field)
        return lambda i: rng.choice(choices)
    if name == "randint":
        try:
            low, high = (int(x) for x in (arg or "").split(":"))
        except ValueError:
            raise InvalidInput(f"{field}: {{{{randint:low:high}}}} needs two integers.", field=field) from None
        if low > high:
            raise InvalidInput(f"{field}: in {{{{randint:{low}:{high}}}}} low is above high.", field=field)
        return lambda i: str(rng.randint(low, high))
    raise InvalidInput(f"{field}: unknown placeholder {{{{{name}}}}}; known: {', '.join(PLACEHOLDERS)}.", field=field)


def placeholders(text: str, field: str) -> Iterator[tuple[int, int, str, str | None]]:
    """``(start, end, name, argument)`` of each placeholder, left to right, in time linear in ``text``.

    A regular expression backtracks here: on ``{{a:`` repeated with no ``}`` it scans to the end
    from every opening, which is hours for a 2 MB value. This scanner looks at each character a
    bounded number of times: the next ``}`` is found once and reused until the scan passes it, and
    nothing is looked for after the last ``}}``. An argument is everything up to the first ``}``.
    """
    length = len(text)
    last_close = text.rfind("}}")
    close = -1  # the first "}" at or after the argument being read
    at = 0
    while last_close > 0:
        # The opening and the name: this part cannot backtrack past the next "{".
        head = OPENING.search(text, at, last_close)
        if head is None:
            return
        start, j = head.start(), head.end()
        at = start + 1  # where the next search starts unless this is a placeholder
        argument = None
        if j < length and text[j] == ":":
            if close <= j:
                close = text.find("}", j + 1)
                if close < 0:
                    return  # no "}" anywhere after: nothing later closes either
            if not text.startswith("}}", close):
                continue
            if close - j - 1 > MAX_ARGUMENT:
                raise InvalidInput(
                    f"{field}: the argument of {{{{{head.group(1)}:...}}}} is longer than {MAX_ARGUMENT:,} characters.",
                    field=field,
                )
            argument, k = text[j + 1 : close], close
        else:
            k = j
            while k < length and text[k].isspace():
                k += 1
            if not text.startswith("}}", k):
                continue
        yield start, k + 2, head.group(1), argument
        at = k + 2


@dataclass(frozen=True)
class Pattern:
    """A key or value with placeholders, compiled once into a format string and rendered for each index."""

    template: str
    parts: tuple[Callable[[int], str], ...]

    @classmethod
    def compile(cls, text: str | None, field: str, rng: random.Random) -> Pattern | None:
        if text is None:
            return None
        pieces: list[str] = []
        parts: list[Callable[[int], str]] = []
        at = 0
        for start, end, name, argument in placeholders(text, field):
            if len(parts) == MAX_PLACEHOLDERS:
                raise InvalidInput(f"{field} has more than {MAX_PLACEHOLDERS:,} placeholders.", field=field)
            pieces.append(_escape(text[at:start]))
            pieces.append("{}")
            parts.append(_part(name, argument, field, rng))
            at = end
        pieces.append(_escape(text[at:]))
        return cls("".join(pieces), tuple(parts))

    @property
    def constant(self) -> bool:
        return not self.parts

    def render(self, index: int) -> str:
        return self.template.format(*[part(index) for part in self.parts])

    @property
    def index_format(self) -> Callable[[int], str] | None:
        """For a pattern whose only placeholder is ``{{i}}`` (the usual bulk value): str.format itself."""
        return self.template.format if self.parts == (str,) else None

    def encoder(self) -> Callable[[int], bytes] | None:
        """The fastest way to this pattern's bytes for an index; None when they never change."""
        template, parts = self.template, self.parts
        if not parts:
            return None
        if parts == (str,):
            # Only {{i}}, the usual case: format takes the integer as it is.
            render = template.format
            return lambda index: render(index).encode()
        return lambda index: template.format(*[part(index) for part in parts]).encode()


def _escape(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class Generator:
    """Makes the i-th message of a bulk publish: what never changes is encoded once.

    ``key_at`` / ``value_at`` are None when the key / value is the same for every message
    (``fixed_key`` / ``fixed_value``); sending loops call them directly, message by message.
    """

    headers: tuple[tuple[str, bytes], ...]
    fixed_key: bytes | None
    fixed_value: bytes | None
    key_at: Callable[[int], bytes] | None
    value_at: Callable[[int], bytes] | None
    # The value's str.format when its only placeholder is {{i}}: sending loops call it inline.
    value_format: Callable[[int], str] | None = None

    @classmethod
    def build(
        cls, key: str | None, value: str | None, encoding: str, headers: tuple[tuple[str, bytes], ...]
    ) -> Generator:
        rng = random.Random()  # noqa: S311 - test data, not secrets
        key_pattern = Pattern.compile(key, "key", rng)
        if encoding == "base64":
            # Binary has no placeholders: the same bytes every time.
            return cls(headers, _fixed(key_pattern), encode(value, "base64", "value"), _encoder(key_pattern), None)
        value_pattern = Pattern.compile(value, "value", rng)
        if encoding == "json" and value_pattern is not None:
            # Placeholders may stand where JSON would not parse; the rendered message must.
            problem = json_problem(value_pattern.render(0))
            if problem:
                raise InvalidInput(f"value is not valid JSON once rendered (message 0): {problem}.", field="value")
        return cls(headers, _fixed(key_pattern), _fixed(value_pattern), _encoder(key_pattern), _encoder(value_pattern))

    def message(self, index: int) -> Outgoing:
        key = self.fixed_key if self.key_at is None else self.key_at(index)
        value = self.fixed_value if self.value_at is None else self.value_at(index)
        return Outgoing(key, value, self.headers)


def _encoder(pattern: Pattern | None) -> Callable[[int], bytes] | None:
    return None if pattern is None else pattern.encoder()


def _fixed(pattern: Pattern | None) -> bytes | None:
    if pattern is None or not pattern.constant:
        return None
    return pattern.render(0).encode()
