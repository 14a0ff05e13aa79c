"""What the NATS pages share: their menu entry and tabs, subject parameters, readable configs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from console.params import str_param
from streams.errors import InvalidInput
from streams.nats.durations import humanize, seconds
from streams.nats.subjects import SUBJECT_MAX_LENGTH, validate_subject

KIND = "nats"
T = TypeVar("T")
DURATION_KEYS = frozenset(
    {"max_age", "duplicate_window", "ack_wait", "inactive_threshold", "idle_heartbeat", "subject_delete_marker_ttl"}
)


def tab(name: str) -> dict[str, Any]:
    """Fixed page context: the NATS menu entry and the tab that is lit."""
    return {"nav": KIND, "tab": name}


def subject_param(data: Mapping[str, Any], name: str) -> str | None:
    raw = str_param(data, name, max_length=SUBJECT_MAX_LENGTH).strip()
    if not raw:
        return None
    problem = validate_subject(raw)
    if problem:
        raise InvalidInput(f"{name} is not a valid subject filter: {problem}.", field=name)
    return raw


def paged(items: list[T], page: int, size: int) -> list[T]:
    return items[(page - 1) * size : page * size]


def config_rows(config: dict[str, Any]) -> list[tuple[str, str]]:
    """A stream or consumer config as readable rows: durations humanised, lists joined."""
    rows = []
    for key, value in config.items():
        if key in DURATION_KEYS and isinstance(value, int):
            shown = "none" if value == 0 else f"{humanize(seconds(value))} ({value} ns)"
        elif isinstance(value, list):
            shown = ", ".join(str(v) for v in value) if all(not isinstance(v, dict) for v in value) else str(value)
        elif isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in value.items()) or "—"
        elif value == -1 and key.startswith("max_"):
            shown = "unlimited"
        else:
            shown = str(value)
        rows.append((key, shown))
    return rows
