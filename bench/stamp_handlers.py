"""The handler the pause/resume benchmark runs in runconsumers: it stamps the time of each call."""

from __future__ import annotations

import os
import time
from typing import Any

from streams.workers.registry import handler


@handler("bench.stamp", description="Appends the time of each call to config.path.")
def stamp(message: Any) -> None:
    fd = os.open(message.config["path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{time.time():.6f}\n".encode())
    finally:
        os.close(fd)
