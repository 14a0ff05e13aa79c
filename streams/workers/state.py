"""A managed consumer's actual state, derived from its desired state and its instances' heartbeats.

- ``failing``: some live instance is failing (a bad handler or config, a message stuck
  past its retries with no dead-letter destination, a broker it cannot reach);
- ``stopped``: no live instance and the consumer is meant to be stopped;
- ``lost``: no live instance, it is meant to run, and some instance stopped heartbeating
  without saying goodbye (killed, machine gone);
- ``starting``: meant to run, and no instance runs it yet (no runconsumers process has
  picked it up, or its instances are still connecting);
- ``paused``: every live instance is paused;
- ``running``: otherwise (some instance handles messages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

STATES = ("starting", "running", "paused", "stopped", "failing", "lost")


@dataclass(frozen=True)
class Beat:
    """What the derivation needs of an instance row."""

    state: str
    heartbeat_at: datetime


def is_live(beat: Beat, now: datetime, lost_after: timedelta) -> bool:
    return beat.state not in ("stopped", "lost") and now - beat.heartbeat_at <= lost_after


def derive_state(desired: str, beats: Sequence[Beat], now: datetime, lost_after: timedelta) -> str:
    live = [b for b in beats if is_live(b, now, lost_after)]
    if any(b.state == "failing" for b in live):
        return "failing"
    working = [b for b in live if b.state not in ("stopping",)]
    if not working:
        if desired == "stopped":
            return "stopped"
        went_silent = any(
            b.state == "lost" or (b.state not in ("stopped",) and now - b.heartbeat_at > lost_after) for b in beats
        )
        return "lost" if went_silent else "starting"
    if any(b.state == "running" for b in working):
        return "running"
    if all(b.state == "paused" for b in working):
        return "paused"
    return "starting"
