"""Sweeps of the test servers stamped with chosen times, so a test can play out minutes of sampling at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams import adapters
from streams.clusters import ClusterConfig
from streams.lag import sampling

STEP = timedelta(seconds=30)


def cluster(slug: str) -> ClusterConfig:
    return adapters.find(slug, adapters.clusters(fresh=True))


def sweep(slug: str, at: datetime) -> sampling.SweepResult:
    """One sweep of the cluster named ``slug``, its samples stamped ``at``."""
    (result,) = sampling.sample([cluster(slug)], at)
    return result


def times(count: int, *, end: datetime | None = None) -> list[datetime]:
    """``count`` sample times STEP apart, the last one ``end`` (default: a second ago)."""
    last = end or datetime.now(UTC) - timedelta(seconds=1)
    return [last - STEP * (count - 1 - i) for i in range(count)]
