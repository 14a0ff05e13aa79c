"""Server-rendered SVG charts of lag: sparklines and the history chart, as numbers for the templates.

Only numbers leave here (path data, coordinates, labels made of numbers and dates); the templates put them
in ``<svg>`` elements with autoescaping, so no broker string ever reaches the drawing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from streams.lag.history import Point

SPARK_WIDTH = 120
SPARK_HEIGHT = 24
CHART_WIDTH = 720
CHART_HEIGHT = 180
CHART_PAD_LEFT = 56
CHART_PAD_BOTTOM = 22
CHART_PAD_TOP = 8


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def path_data(xy: Sequence[tuple[float, float] | None]) -> str:
    """SVG path data through the points, lifting the pen at each None (a gap stays a gap)."""
    parts: list[str] = []
    pen_down = False
    for point in xy:
        if point is None:
            pen_down = False
            continue
        x, y = point
        parts.append(f"{'L' if pen_down else 'M'}{_f(x)} {_f(y)}")
        pen_down = True
    return " ".join(parts)


@dataclass(frozen=True)
class Sparkline:
    d: str = ""
    dots: tuple[tuple[str, str], ...] = ()
    width: int = SPARK_WIDTH
    height: int = SPARK_HEIGHT
    last: int | None = None
    peak: int | None = None
    samples: int = 0


def sparkline(values: Sequence[int | None], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> Sparkline:
    known = [v for v in values if v is not None]
    if not known:
        return Sparkline(width=width, height=height)
    peak = max(known)
    step = width / max(len(values) - 1, 1)
    usable = height - 2

    def y(v: int) -> float:
        return 1 + usable - (v / peak * usable if peak else 0)

    xy = [None if v is None else (i * step, y(v)) for i, v in enumerate(values)]
    # A point with gaps on both sides draws no line: mark it with a dot instead.
    dots = tuple(
        (_f(p[0]), _f(p[1]))
        for i, p in enumerate(xy)
        if p is not None and (i == 0 or xy[i - 1] is None) and (i == len(xy) - 1 or xy[i + 1] is None)
    )
    return Sparkline(path_data(xy), dots, width, height, known[-1], peak, len(values))


@dataclass(frozen=True)
class Tick:
    x: str
    label: str


@dataclass(frozen=True)
class HistoryChart:
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    d: str = ""
    dots: tuple[tuple[str, str], ...] = ()
    left: int = CHART_PAD_LEFT
    top: int = CHART_PAD_TOP
    bottom: int = CHART_HEIGHT - CHART_PAD_BOTTOM
    right: int = CHART_WIDTH
    label_x: int = CHART_PAD_LEFT - 4
    label_top: int = CHART_PAD_TOP + 8
    label_bottom: int = CHART_HEIGHT - 6
    y_max: int = 0
    x_ticks: tuple[Tick, ...] = field(default_factory=tuple)
    points: int = 0
    gaps: int = 0

    @property
    def empty(self) -> bool:
        return not self.d and not self.dots


def _nice_ceiling(value: int) -> int:
    """1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1
    scale = 1
    while True:
        for m in (1, 2, 5):
            if m * scale >= value:
                return m * scale
        scale *= 10


def history_chart(points: Sequence[Point], since: datetime, until: datetime) -> HistoryChart:
    """Lag over time: points binned to the pixel columns (the highest lag of each), gaps left open."""
    plot_w = CHART_WIDTH - CHART_PAD_LEFT
    plot_h = CHART_HEIGHT - CHART_PAD_TOP - CHART_PAD_BOTTOM
    span = max((until - since).total_seconds(), 1.0)
    columns = plot_w // 2
    bins: list[int | None] = [None] * columns
    seen: list[bool] = [False] * columns
    for point in points:
        col = int((point.t - since).total_seconds() / span * (columns - 1))
        if not 0 <= col < columns:
            continue
        if point.lag is None:
            if not seen[col]:
                seen[col] = True
            continue
        seen[col] = True
        current = bins[col]
        bins[col] = point.lag if current is None else max(current, point.lag)
    known = [v for v in bins if v is not None]
    y_max = _nice_ceiling(max(known, default=0))
    ticks = tuple(
        Tick(_f(CHART_PAD_LEFT + plot_w * i / 4), (since + (until - since) * i / 4).strftime("%m-%d %H:%M"))
        for i in range(5)
    )
    gaps = sum(1 for p in points if p.lag is None)
    if not known:
        return HistoryChart(y_max=y_max, x_ticks=ticks, points=len(points), gaps=gaps)
    # Columns without any point (between samples) are skipped; a column holding only gaps breaks the line.
    xy: list[tuple[float, float] | None] = []
    for col, value in enumerate(bins):
        if value is None:
            if seen[col]:
                xy.append(None)
            continue
        x = CHART_PAD_LEFT + col / max(columns - 1, 1) * plot_w
        xy.append((x, CHART_PAD_TOP + plot_h - value / y_max * plot_h))
    dots = tuple(
        (_f(p[0]), _f(p[1]))
        for i, p in enumerate(xy)
        if p is not None and (i == 0 or xy[i - 1] is None) and (i == len(xy) - 1 or xy[i + 1] is None)
    )
    return HistoryChart(d=path_data(xy), dots=dots, y_max=y_max, x_ticks=ticks, points=len(points), gaps=gaps)
