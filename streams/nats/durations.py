"""Durations as people type them ("10m", "1h30m") and as NATS sends them.

The NATS server reports durations as integer nanoseconds in JSON (``pause_remaining``,
``ack_wait``) and as Go duration strings on the monitoring endpoints ("1m2.5s",
"602µs"); client libraries disagree on the type (nats-py declares
``pause_remaining`` a ``str``). ``nanos`` accepts all of these.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_UNIT_NANOS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # Go prints the micro sign
    "μs": 1_000,  # and some tools the Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
    "w": 7 * 86400 * 1_000_000_000,
}
# The longest duration a person may type: a century. Longer is a typo, and far longer
# overflows ``timedelta`` (at most 999,999,999 days).
MAX_DURATION = timedelta(days=36525)
_MAX_DURATION_NANOS = int(MAX_DURATION.total_seconds()) * 1_000_000_000
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)")


def _parse_parts(text: str) -> int:
    """Nanoseconds in a Go-style duration ("1h30m", "2.5s"; "d" and "w" allowed too)."""
    position = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            raise ValueError(text)
        total += float(match.group(1)) * _UNIT_NANOS[match.group(2)]
        position = match.end()
    if position != len(text) or position == 0:
        raise ValueError(text)
    return int(total)


def nanos(value: Any) -> int | None:
    """Nanoseconds from an int, a float, a digit string, or a Go duration string; None when absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = str(value).strip()
    if not text:
        return None
    negative = text.startswith("-")
    body = text.lstrip("+-")
    try:
        result = int(body) if body.isdigit() else int(float(body)) if _is_number(body) else _parse_parts(body)
    except (ValueError, OverflowError):
        return None
    return -result if negative else result


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def seconds(value: Any) -> float | None:
    """Seconds from anything ``nanos`` understands."""
    ns = nanos(value)
    return None if ns is None else ns / 1e9


def parse_duration(text: str) -> timedelta:
    """A positive duration typed by a person: "90s", "10m", "1h30m", "2d"; a bare number is seconds.

    ValueError for anything else, including durations longer than MAX_DURATION.
    """
    raw = text.strip().lower().replace(" ", "")
    if not raw:
        raise ValueError("empty duration")
    try:
        ns = int(raw) * 1_000_000_000 if raw.isdigit() else _parse_parts(raw)
    except OverflowError:
        # A float part too large for a float ("1e400" digits) becomes infinity.
        raise ValueError("a duration may be at most 100 years") from None
    if ns <= 0:
        raise ValueError("a duration must be positive")
    if ns > _MAX_DURATION_NANOS:
        raise ValueError("a duration may be at most 100 years")
    return timedelta(microseconds=ns // 1000)


def humanize(total_seconds: float | None) -> str:
    """Compact and readable: "45s", "12m 5s", "3h 20m", "2d 4h"; "—" when unknown."""
    if total_seconds is None:
        return "—"
    value = max(0, int(total_seconds))
    days, rest = divmod(value, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days >= 365:
        return f"{days // 365}y {days % 365}d"
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
