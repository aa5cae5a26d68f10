"""Charts as SVG geometry, computed on the server: a time-series line with its points, and
sparklines. The templates draw them; no chart library runs in the browser."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    at: datetime
    value: float


@dataclass(frozen=True)
class Chart:
    """A line over time: ``points`` in drawing coordinates, ``path`` the SVG polyline,
    axis ticks as ``(coordinate, label)``."""

    label: str
    width: int
    height: int
    points: list[Point]
    path: str
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]


_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 28


def line(
    series: Sequence[tuple[datetime, float]], *, label: str, width: int = 640, height: int = 220
) -> Chart:
    """``series`` (oldest first) scaled into a ``width`` x ``height`` box with margins."""
    if not series:
        return Chart(label, width, height, [], "", [], [])
    t0, t1 = series[0][0].timestamp(), series[-1][0].timestamp()
    values = [v for _, v in series]
    low, high = min(values), max(values)
    if low == high:  # a flat line in the middle, the axis a tenth either side
        pad = abs(low) / 10 or 1.0
        low, high = low - pad, high + pad
    inner_w, inner_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    span = (t1 - t0) or 1.0

    def x_of(at: datetime) -> float:
        return round(_LEFT + (at.timestamp() - t0) / span * inner_w, 1)

    def y_of(value: float) -> float:
        return round(_TOP + (high - value) / (high - low) * inner_h, 1)

    points = [Point(x_of(at), y_of(v), at, v) for at, v in series]
    y_ticks = [(y_of(v), compact(v)) for v in (low, (low + high) / 2, high)]
    x_ticks = [(points[0].x, f"{series[0][0]:%d %b}")]
    if len(points) > 1:
        x_ticks.append((points[-1].x, f"{series[-1][0]:%d %b}"))
    path = " ".join(f"{p.x},{p.y}" for p in points)
    return Chart(label, width, height, points, path, y_ticks, x_ticks)


def spark(values: Sequence[float], *, width: int = 96, height: int = 24) -> str:
    """An SVG polyline's points for ``values`` (oldest first); empty for fewer than two."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    rise = (high - low) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{round(i * step, 1)},{round(1 + (high - v) / rise * (height - 2), 1)}"
        for i, v in enumerate(values)
    )


def compact(value: float) -> str:
    """12,345 → 12.3K; 0.0421 → 0.0421 (rates stay as they are)."""
    magnitude = abs(value)
    if magnitude < 1:
        return f"{value:.4g}"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.0f}"
