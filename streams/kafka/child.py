"""What the client child processes (``isolated``, ``offset_reader``) are started with."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def settings(conf: dict[str, Any]) -> dict[str, Any]:
    """The librdkafka settings a child can be sent as JSON (callbacks and loggers stay behind)."""
    return {k: v for k, v in conf.items() if isinstance(v, str | int | float | bool)}


def environment() -> dict[str, str]:
    """This process's environment, with the project importable by ``python -m``."""
    return os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
