"""An inline SVG chart of jobs per hour: plain numbers for the template, no script needed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

WIDTH = 720
HEIGHT = 160
PADDING = 24


@dataclass(frozen=True, slots=True)
class Series:
    outcome: str
    points: str  # "x,y x,y ..." for an SVG polyline
    total: int


@dataclass(frozen=True, slots=True)
class Chart:
    series: Sequence[Series]
    peak: int
    start: datetime
    end: datetime
    width: int = WIDTH
    height: int = HEIGHT


def hourly_chart(
    by_hour: Mapping[datetime, Mapping[str, int]],
    start: datetime,
    end: datetime,
    outcomes: Sequence[str] = ("succeeded", "failed"),
) -> Chart:
    """One line per outcome over every hour from ``start`` to ``end`` (missing hours are 0)."""
    first = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    moment = first
    while moment <= end:
        hours.append(moment)
        moment += timedelta(hours=1)
    peak = max((by_hour.get(hour, {}).get(o, 0) for hour in hours for o in outcomes), default=0)
    scale = (HEIGHT - 2 * PADDING) / peak if peak else 0
    step = (WIDTH - 2 * PADDING) / max(len(hours) - 1, 1)
    series = []
    for outcome in outcomes:
        values = [by_hour.get(hour, {}).get(outcome, 0) for hour in hours]
        points = " ".join(
            f"{PADDING + index * step:.1f},{HEIGHT - PADDING - value * scale:.1f}"
            for index, value in enumerate(values)
        )
        series.append(Series(outcome, points, sum(values)))
    return Chart(series, peak, first, end)
