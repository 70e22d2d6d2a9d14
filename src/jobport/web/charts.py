"""Charts drawn on the server as inline SVG: no chart library, no script, no build step.

Each function returns markup safe to insert in a template. Colours come from
CSS classes (``series-N``, ``outcome-*``) so the stylesheet owns the palette
and the Content-Security-Policy needs no inline styles. Every chart is an
``img`` for assistive technology, with a title and a one-sentence summary;
the page shows the same figures in a table next to it.

SVG text scales with its ``viewBox``, so one drawing cannot read well both on
a 1280 px screen and on a 390 px phone: :func:`responsive` draws each chart
twice, wide and narrow, and the stylesheet shows the one that fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

#: Widths of the two drawings of a chart, in SVG units (about CSS pixels at scale 1).
WIDE = 520
NARROW = 340
FONT = 13
#: How many distinct series colours the stylesheet defines.
PALETTE = 8


@dataclass(frozen=True)
class Segment:
    """One part of a stacked horizontal bar."""

    css: str
    value: float
    label: str


def series_class(index: int) -> str:
    return f"series-{index % PALETTE}"


def responsive(draw: Callable[[int], Markup]) -> Markup:
    """The chart drawn wide (shown on large screens) and narrow (shown on phones)."""
    return Markup(
        f'<div class="chart-wide">{draw(WIDE)}</div><div class="chart-narrow">{draw(NARROW)}</div>'
    )


def volume_chart(
    days: Sequence[datetime],
    volume: dict[str, list[int]],
    labels: dict[str, str],
    width: int = WIDE,
) -> Markup:
    """Runs per day, stacked by type (the order of ``volume`` gives the colours)."""
    height, top, bottom, left, right = 220, 12, 28, 34, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(series[i] for series in volume.values()) for i in range(len(days))]
    scale_max, ticks = _nice_ticks(max(totals, default=0))
    slot = plot_w / max(len(days), 1)
    bar_w = max(2.0, slot * 0.7)
    total_runs = sum(totals)
    summary = (
        f"{total_runs} runs over {len(days)} days, busiest day "
        f"{_day(days[totals.index(max(totals))])} with {max(totals)} runs"
        if total_runs
        else f"no runs in the last {len(days)} days"
    )
    parts = [_open_svg("Runs per day, by type", summary, height, width)]
    parts.extend(_y_axis(ticks, scale_max, left, top, plot_w, plot_h))
    label_every = max(1, math.ceil(len(days) * 52 / plot_w))  # about 52 units per label
    for i, day in enumerate(days):
        x = left + slot * i + (slot - bar_w) / 2
        y: float = top + plot_h
        for n, (type_, series) in enumerate(volume.items()):
            count = series[i]
            if not count:
                continue
            h = plot_h * count / scale_max
            y -= h
            tip = f"{_day(day)}: {count} {labels.get(type_, type_)} run{'s' * (count != 1)}"
            parts.append(
                f'<rect class="{series_class(n)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(tip)}</title></rect>'
            )
        if (len(days) - 1 - i) % label_every == 0:
            parts.append(
                f'<text class="axis" x="{left + slot * i + slot / 2:.1f}" y="{height - 8}" '
                f'text-anchor="middle">{escape(_day(day))}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bars(
    title: str,
    rows: Sequence[tuple[str, Sequence[Segment]]],
    *,
    summary: str,
    width: int = WIDE,
) -> Markup:
    """One horizontal 100 % bar per row (e.g. outcomes per type), the label above it."""
    row_h, bar_h, top = 44, 16, 4
    height = top + row_h * max(len(rows), 1)
    parts = [_open_svg(title, summary, height, width)]
    for i, (label, segments) in enumerate(rows):
        y = top + row_h * i
        parts.append(f'<text class="label" x="0" y="{y + FONT:.1f}">{escape(label)}</text>')
        total = sum(s.value for s in segments)
        bar_y = y + FONT + 6
        if not total:
            parts.append(
                f'<rect class="empty" x="0" y="{bar_y}" width="{width}" height="{bar_h}"/>'
                f'<text class="axis" x="4" y="{bar_y + 12}">no finished runs</text>'
            )
            continue
        x = 0.0
        for segment in segments:
            if not segment.value:
                continue
            w = width * segment.value / total
            share = f"{segment.label}: {segment.value:g} ({segment.value / total:.0%})"
            parts.append(
                f'<rect class="{segment.css}" x="{x:.1f}" y="{bar_y}" width="{w:.1f}" '
                f'height="{bar_h}"><title>{escape(share)}</title></rect>'
            )
            x += w
    parts.append("</svg>")
    return Markup("".join(parts))


def value_bars(
    title: str,
    rows: Sequence[tuple[str, Sequence[tuple[str, float | None, str]]]],
    *,
    summary: str,
    width: int = WIDE,
) -> Markup:
    """Grouped horizontal bars on one scale: per row, (css class, value, text) bars.

    Used for durations (p50 and p95 per type) and throughput (rows/s per type).
    """
    bar_h, gap, top = 14, 4, 4
    values = [v for _, bars in rows for _, v, _ in bars if v is not None]
    scale = max(values, default=0) or 1
    group_h = FONT + 8 + max((len(bars) for _, bars in rows), default=1) * (bar_h + gap) + 8
    height = top + group_h * max(len(rows), 1)
    text_room = 100
    parts = [_open_svg(title, summary, height, width)]
    for i, (label, bars) in enumerate(rows):
        y = top + group_h * i
        parts.append(f'<text class="label" x="0" y="{y + FONT:.1f}">{escape(label)}</text>')
        for n, (css, value, text) in enumerate(bars):
            bar_y = y + FONT + 6 + n * (bar_h + gap)
            w = 0.0 if value is None else (width - text_room) * value / scale
            parts.append(
                f'<rect class="{css}" x="0" y="{bar_y}" width="{max(w, 1.5):.1f}" '
                f'height="{bar_h}"><title>{escape(text)}</title></rect>'
                f'<text class="axis" x="{max(w, 1.5) + 6:.1f}" y="{bar_y + 11}">'
                f"{escape(text)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


# -- drawing helpers --------------------------------------------------------------------------


def _open_svg(title: str, summary: str, height: int, width: int) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}: {escape(summary)}" '
        f'preserveAspectRatio="xMinYMin meet" font-size="{FONT}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f"<desc>{escape(summary)}</desc>"
    )


def _y_axis(
    ticks: Sequence[float], scale_max: float, left: int, top: int, plot_w: float, plot_h: float
) -> list[str]:
    out = []
    for tick in ticks:
        y = top + plot_h - plot_h * tick / scale_max
        out.append(
            f'<line class="grid" x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{tick:g}</text>"
        )
    return out


def _nice_ticks(maximum: float) -> tuple[float, list[float]]:
    """A round upper bound for the axis and 3 to 5 evenly spaced ticks up to it."""
    if maximum <= 0:
        return 1.0, [0.0, 1.0]
    raw = maximum / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if step < 1:
        step = 1.0
    top = step * math.ceil(maximum / step)
    count = round(top / step)
    return top, [step * i for i in range(count + 1)]


def _day(day: datetime) -> str:
    return f"{day.day} {day.strftime('%b')}"
