"""Kafka's own rules for topic names and configs, checked before the broker is asked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from streams.errors import InvalidInput

TOPIC_NAME_MAX = 249
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_CONFIG_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_CONFIGS = 100
MAX_CONFIG_VALUE = 4096


def topic_name_problem(name: str) -> str | None:
    """Why Kafka would refuse ``name`` as a topic, or None when it is fine."""
    if not name:
        return "A topic name cannot be empty."
    if name in (".", ".."):
        return "A topic cannot be named '.' or '..'."
    if len(name) > TOPIC_NAME_MAX:
        return f"A topic name is at most {TOPIC_NAME_MAX} characters."
    if not _TOPIC_NAME.fullmatch(name):
        return "A topic name may only contain ASCII letters, digits, '.', '_' and '-'."
    return None


def validate_topic_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str):
        raise InvalidInput(f"{field} must be a string.", field=field)
    problem = topic_name_problem(name)
    if problem:
        raise InvalidInput(problem, field=field)
    return name


def is_config_name(name: object) -> bool:
    return isinstance(name, str) and len(name) <= 255 and _CONFIG_NAME.fullmatch(name) is not None


def collides(name: str, existing: str) -> bool:
    """Kafka treats '.' and '_' alike in metric names, so it refuses such pairs."""
    return name != existing and name.replace(".", "_") == existing.replace(".", "_")


def parse_configs(raw: Any, field: str = "configs") -> dict[str, str]:
    """Topic configs from a JSON object or from ``name=value`` lines of a form."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        pairs: dict[str, Any] = {}
        for number, line in enumerate(raw.splitlines(), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, value = line.partition("=")
            if not sep:
                raise InvalidInput(f"{field} line {number} is not name=value.", field=field)
            pairs[name.strip()] = value.strip()
        raw = pairs
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{field} must be an object of config names to values.", field=field)
    if len(raw) > MAX_CONFIGS:
        raise InvalidInput(f"{field} has more than {MAX_CONFIGS} entries.", field=field)
    configs: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not _CONFIG_NAME.fullmatch(name) or len(name) > 255:
            raise InvalidInput(f"{field}: {str(name)[:60]!r} is not a config name.", field=field)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidInput(f"{field}: the value of {name} must be a string or a number.", field=field)
        text = str(value)
        if len(text) > MAX_CONFIG_VALUE:
            raise InvalidInput(f"{field}: the value of {name} is too long.", field=field)
        configs[name] = text
    return configs
