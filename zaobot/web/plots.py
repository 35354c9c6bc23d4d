"""The console's plots, drawn as SVG on the server: pure functions from job timings to markup.

No chart library and nothing from a CDN: a bar chart, a two-series line chart and a horizontal bar
chart are a few dozen lines each, and they render the same in every browser (and in tests).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

import numpy as np

from zaobot.storage.overview import JobTiming

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 34
COLOURS = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1")
DONE_STATES = ("rendered", "done", "taken_down")  # a clip was made (what happened to it since doesn't matter)


@dataclass
class DaySummary:
    """The last `hours` hours, hour by hour (oldest first)."""

    hours: list[datetime]
    renders: list[int]
    wait_p50: list[float | None]
    wait_p95: list[float | None]
    render_p50: list[float | None]
    render_p95: list[float | None]
    failures: Counter[str] = field(default_factory=Counter)


def failure_reason(timing: JobTiming) -> str:
    """A short, stable reason: the error's first words (errors are class names or short phrases)."""
    if timing.status == "cancelled":
        return "cancelled"
    text = (timing.error or "unknown").split(":")[0].strip()
    return text[:40] or "unknown"


def _percentiles(values: np.ndarray, slots: np.ndarray, hours: int, q: float) -> list[float | None]:
    return [float(np.percentile(values[slots == h], q)) if np.any(slots == h) else None for h in range(hours)]


def summarise(timings: Sequence[JobTiming], now: datetime, hours: int = 24) -> DaySummary:
    """Renders per hour, queue wait and render time (p50, p95) per hour, failures by reason.

    Each job is placed by its own moments: one queued long before the window may finish inside it."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    slots_at = [start + timedelta(hours=i) for i in range(hours)]
    origin = start.timestamp()
    failures: Counter[str] = Counter(failure_reason(t) for t in timings
                                     if t.status in ("failed", "cancelled") and t.created >= origin)
    nan = float("nan")
    created = np.array([t.created for t in timings], dtype=float)
    started = np.array([nan if t.started is None else t.started for t in timings], dtype=float)
    finished = np.array([nan if t.finished is None else t.finished for t in timings], dtype=float)
    made = np.array([t.status in DONE_STATES for t in timings], dtype=bool)

    def slot(moments: np.ndarray) -> np.ndarray:
        return np.floor((moments - origin) / 3600).astype(int, copy=False) if moments.size else moments.astype(int)

    with np.errstate(invalid="ignore"):
        has_start = ~np.isnan(started)
        wait_slot = slot(np.where(has_start, started, origin - 7200))
        waits = np.maximum(0.0, started - created)
        done = made & has_start & ~np.isnan(finished)
        done_slot = slot(np.where(done, finished, origin - 7200))
        spans = np.maximum(0.0, finished - started)
    in_wait = has_start & (wait_slot >= 0) & (wait_slot < hours)
    in_done = done & (done_slot >= 0) & (done_slot < hours)
    renders = np.bincount(done_slot[in_done], minlength=hours)[:hours]
    w, ws = waits[in_wait], wait_slot[in_wait]
    r, rs = spans[in_done], done_slot[in_done]
    return DaySummary(hours=slots_at, renders=[int(n) for n in renders], wait_p50=_percentiles(w, ws, hours, 50),
                      wait_p95=_percentiles(w, ws, hours, 95), render_p50=_percentiles(r, rs, hours, 50),
                      render_p95=_percentiles(r, rs, hours, 95), failures=failures)


# ---------------------------------------------------------------- drawing


def _nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** np.floor(np.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _count_top(value: float) -> float:
    """The axis top for counts: four whole, round steps (1, 2, 2.5 or 5 times a power of ten)."""
    quarter = max(1.0, value / 4)
    power = 10 ** np.floor(np.log10(quarter))
    for m in (1, 2, 2.5, 5, 10):
        step = m * power
        if step >= quarter and float(step).is_integer():
            return float(4 * step)
    return float(40 * power)


def _svg_head(title: str, height: int) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-label="{escape(title)}" class="plot">', f'<title>{escape(title)}</title>',
            f'<text x="{LEFT}" y="16" font-size="13" font-weight="600" fill="#1a202c">{escape(title)}</text>']


def _hourly(title: str, hours: Sequence[datetime], top: float, unit: str) -> tuple[list[str], float, float]:
    """An hour-by-hour plot's frame and y grid: (the SVG parts so far, the width of an hour, the plot height)."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = _svg_head(title, HEIGHT)
    for i in range(5):
        y = TOP + plot_h * i / 4
        value = top * (1 - i / 4)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#4a5568">'
                     f'{value:g}{escape(unit)}</text>')
    return parts, (WIDTH - LEFT - RIGHT) / max(1, len(hours)), plot_h


def _close(parts: list[str], hours: Sequence[datetime], step: float) -> str:
    """The hour labels under the plot (every third hour), and the end of the SVG."""
    parts += [f'<text x="{LEFT + step * (i + 0.5):.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" '
              f'text-anchor="middle" fill="#4a5568">{h:%H}h</text>' for i, h in enumerate(hours) if i % 3 == 0]
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, hours: Sequence[datetime], values: Sequence[int]) -> str:
    """Counts per hour as an inline SVG: each bar carries its value (data-value, and a title to hover)."""
    top = _count_top(max(values, default=0))
    parts, step, plot_h = _hourly(title, hours, top, "")
    for i, (hour, value) in enumerate(zip(hours, values)):
        h = plot_h * value / top
        parts.append(f'<rect class="bar" x="{LEFT + step * i + 1:.1f}" y="{TOP + plot_h - h:.1f}" '
                     f'width="{max(1.0, step - 2):.1f}" height="{h:.1f}" fill="{COLOURS[0]}" data-value="{value}">'
                     f'<title>{hour:%H}:00 — {value}</title></rect>')
    return _close(parts, hours, step)


def line_chart(title: str, hours: Sequence[datetime], series: dict[str, Sequence[float | None]],
               unit: str = "s") -> str:
    """Lines with a dot per hour that has data; gaps where an hour had none."""
    values = [v for line in series.values() for v in line if v is not None]
    top = _nice_max(max(values, default=0))
    parts, step, plot_h = _hourly(title, hours, top, unit)
    for k, (name, line) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = [(LEFT + step * (i + 0.5), TOP + plot_h * (1 - v / top), v) for i, v in enumerate(line)
                  if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y, v in points:
            parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                         f'<title>{escape(name)}: {v:.1f}{escape(unit)}</title></circle>')
        parts.append(f'<rect x="{WIDTH - RIGHT - 150 + 75 * k}" y="6" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{WIDTH - RIGHT - 136 + 75 * k}" y="15" font-size="11" fill="#1a202c">'
                     f'{escape(name)}</text>')
    return _close(parts, hours, step)


def reasons_chart(title: str, counts: Counter[str]) -> str:
    """Horizontal bars, one per failure reason, most frequent first."""
    items = counts.most_common(8)
    row = 24
    height = TOP + row * max(1, len(items)) + 8
    label_w = 220
    top = _nice_max(max((n for _, n in items), default=0))
    parts = _svg_head(title, height)
    if not items:
        parts.append(f'<text x="{LEFT}" y="{TOP + 14}" font-size="12" fill="#4a5568">No failures.</text>')
    for i, (reason, n) in enumerate(items):
        y = TOP + row * i
        w = (WIDTH - label_w - RIGHT - 40) * n / top
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" font-size="11" text-anchor="end" fill="#1a202c">'
                     f'{escape(reason)}</text>')
        parts.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{max(1.0, w):.1f}" height="{row - 8}" '
                     f'fill="{COLOURS[1]}" data-value="{n}"/>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="11" fill="#1a202c">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)
