"""What the Kafka pages share."""

from __future__ import annotations

from typing import Any

from streams.kafka.lag import GroupLag

KIND = "kafka"
# Kafka pages live under /clusters/..., but the main menu should light up Kafka.
PAGE = {"nav": KIND}


def lag_api(lag: GroupLag) -> dict[str, Any]:
    """Lag null with ``lag_unknown`` says the watermarks were not read, not that nothing was committed."""
    return {"lag": lag.total, "lag_unknown": lag.lag_unknown > 0}
