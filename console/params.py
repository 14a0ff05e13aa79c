"""Strict parsing of query parameters and JSON bodies: bad input is a 400 naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from streams.errors import InvalidInput

# No integer the API takes (offsets, partitions, sequences, counts) is wider than 64 bits; a wider one
# would overflow in the broker clients instead of being refused.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def int_param(
    data: Mapping[str, Any],
    name: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = data.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise InvalidInput(f"{name} must be an integer.", field=name)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be an integer, not {str(raw)[:40]!r}.", field=name) from None
    if minimum is not None and value < minimum:
        raise InvalidInput(f"{name} must be at least {minimum}.", field=name)
    if maximum is not None and value > maximum:
        raise InvalidInput(f"{name} must be at most {maximum}.", field=name)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(f"{name} is out of range (64 bits at most).", field=name)
    return value


def float_param(
    data: Mapping[str, Any], name: str, default: float | None = None, *, minimum: float, maximum: float
) -> float | None:
    raw = data.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise InvalidInput(f"{name} must be a number.", field=name)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number, not {str(raw)[:40]!r}.", field=name) from None
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{name} must be between {minimum:g} and {maximum:g}.", field=name)
    return value


def choice_param(
    data: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str | None = None
) -> str | None:
    raw = data.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}.", field=name)
    return str(raw)


def str_param(data: Mapping[str, Any], name: str, default: str = "", *, max_length: int = 1000) -> str:
    raw = data.get(name)
    if raw is None:
        return default
    if not isinstance(raw, str):
        raise InvalidInput(f"{name} must be a string.", field=name)
    if len(raw) > max_length:
        raise InvalidInput(f"{name} is longer than {max_length} characters.", field=name)
    return raw


def datetime_param(data: Mapping[str, Any], name: str) -> datetime | None:
    """ISO-8601 (``Z`` allowed) or epoch milliseconds; naive times are UTC."""
    raw = data.get(name)
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    try:
        if text.isdigit():
            value = datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(
            f"{name} must be an ISO-8601 time (2026-01-31T12:00:00Z) or epoch milliseconds.", field=name
        ) from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if value.year < 1970:
        raise InvalidInput(f"{name} must not be before 1970.", field=name)
    return value


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def bool_param(data: Mapping[str, Any], name: str, default: bool = False) -> bool:
    """A flag from a query string, a form (checkbox "on") or JSON (true/false)."""
    raw = data.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidInput(f"{name} must be true or false.", field=name)


def page_params(data: Mapping[str, Any], default_size: int = 50, max_size: int = 500) -> tuple[int, int]:
    page = int_param(data, "page", 1, minimum=1, maximum=1_000_000)
    size = int_param(data, "page_size", default_size, minimum=1, maximum=max_size)
    assert page is not None and size is not None
    return page, size
