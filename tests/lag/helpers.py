"""Sweeps of the test servers stamped with chosen times, so a test can play out minutes of sampling at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams import adapters
from streams.clusters import ClusterConfig
from streams.lag import sampling
from streams.lag.models import LagSweep

STEP = timedelta(seconds=30)


def cluster(slug: str) -> ClusterConfig:
    return adapters.find(slug, adapters.clusters(fresh=True))


def sweep(slug: str, at: datetime, *, again_if_unanswered: bool = True) -> sampling.SweepResult:
    """One sweep of the cluster named ``slug``, its samples stamped ``at``.

    The suite's broker holds every group the worker's tests made and shares the two cores with
    the other worker, so a sweep over all of them can miss a deadline: such a sweep is forgotten
    and done once more, so the test plays the timeline it wrote. Tests of a broker that is down
    say ``again_if_unanswered=False``.
    """
    (result,) = sampling.sample([cluster(slug)], at)
    if again_if_unanswered and not result.ok and "did not answer" in result.error:
        LagSweep.objects.filter(cluster=slug, at=at).exclude(error="").delete()
        (result,) = sampling.sample([cluster(slug)], at)
    return result


def times(count: int, *, end: datetime | None = None) -> list[datetime]:
    """``count`` sample times STEP apart, the last one ``end`` (default: a second ago)."""
    last = end or datetime.now(UTC) - timedelta(seconds=1)
    return [last - STEP * (count - 1 - i) for i in range(count)]
