"""JSON from outside (broker data, request bodies, socket frames) parsed so that every failure is a ValueError.

The standard parser raises RecursionError, not ValueError, on deep nesting (``[`` x 3000), which
every ``except ValueError`` misses: one such message would turn a page into a 500.
"""

from __future__ import annotations

import json
from typing import Any


class TooDeep(ValueError):
    """The text nests arrays or objects deeper than the parser can follow."""

    def __init__(self) -> None:
        super().__init__("it is nested too deeply")


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads``, raising ``TooDeep`` (a ValueError) where it would exhaust the stack."""
    try:
        return json.loads(data)
    except RecursionError:
        raise TooDeep() from None


def dumps_pretty(value: Any) -> str | None:
    """Indented JSON text for display, or None when the value nests too deeply to write out."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
    except RecursionError:
        return None
