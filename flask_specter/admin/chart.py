"""The status page's sync-health chart: inline SVG drawn on the server (no JavaScript, no CDN).

One strip per measure, each with its own scale (a thousand stock rows and two refused calls side by
side would hide the calls), one bar per hour, midnights as grid lines, Swedish labels, and every bar's
value in its ``<title>`` (the browser's tooltip).
"""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup, escape

from ..health import Health, Series
from ..i18n import _, shop_zone

WIDTH = 1000
LABEL_W = 250
RIGHT_W = 56
ROW_H = 58
BAR_H = 40
TOP = 8
AXIS_H = 34
COLOURS = {"ok": "#2e8540", "bad": "#c9302c", "neutral": "#2b6cb0"}
LAG_COLOUR = "#6b46c1"
WEEKDAYS = ("mån", "tis", "ons", "tor", "fre", "lör", "sön")


def _fmt_count(value: float) -> str:
    return f"{int(round(value)):,}".replace(",", "\u00a0")


def fmt_seconds(value: float) -> str:
    """Seconds as a Swedish reader expects them: 4,2 s, 3 min 5 s, 2 h 10 min."""
    if value < 60:
        return f"{value:.1f}".replace(".", ",") + " s"
    if value < 3600:
        minutes, seconds = divmod(int(round(value)), 60)
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, rest = divmod(int(round(value)), 3600)
    return f"{hours} h {rest // 60} min"


def _fmt(series: Series, value: float) -> str:
    return fmt_seconds(value) if series.unit == "s" else _fmt_count(value)


def _nice_top(peak: float) -> float:
    """The strip's top: the peak rounded up to 1, 2 or 5 times a power of ten."""
    if peak <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= peak:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= peak:
            return step * factor
    return step * 10


def render_chart(health: Health) -> Markup:
    plot_w = WIDTH - LABEL_W - RIGHT_W
    slot = plot_w / health.hours
    bar_w = max(1.0, slot * 0.8)
    height = TOP + ROW_H * len(health.series) + AXIS_H
    zone = shop_zone()
    title = _("Synkhälsa de senaste %(days)s dygnen", days=health.hours // 24)
    desc = _("En stapel per timme; varje rad har sin egen skala.")
    axis_note = _("Tid (%(zone)s), en stapel per timme", zone=str(zone))
    out: list[str] = [
        f'<svg class="specter-health-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-labelledby="specter-health-title specter-health-desc" '
        f'font-family="-apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif">',
        f'<title id="specter-health-title">{escape(title)}</title>',
        f'<desc id="specter-health-desc">{escape(desc)}</desc>',
    ]
    for row in range(len(health.series)):  # row backgrounds first: the grid lines go over them
        out.append(f'<rect x="0" y="{TOP + row * ROW_H}" width="{WIDTH}" height="{ROW_H - 4}" fill="{"#f8f9fa" if row % 2 == 0 else "#ffffff"}"/>')
    # midnight grid lines and day labels
    axis_y = TOP + ROW_H * len(health.series)
    for i in range(health.hours + 1):
        at = _local(health.hour(i), zone)
        if at.hour != 0:  # the shop's midnights
            continue
        x = LABEL_W + i * slot
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{axis_y + 4}" stroke="#d0d5da" stroke-width="1"/>')
        if i < health.hours:
            label = f"{WEEKDAYS[at.weekday()]} {at.day}/{at.month}"
            out.append(f'<text x="{x + 12 * slot:.1f}" y="{axis_y + 18}" font-size="12" fill="#444" text-anchor="middle">{escape(label)}</text>')
    out.append(f'<line x1="{LABEL_W}" y1="{axis_y}" x2="{LABEL_W + plot_w}" y2="{axis_y}" stroke="#888" stroke-width="1"/>')
    out.append(
        f'<text x="{LABEL_W + plot_w}" y="{axis_y + 31}" font-size="11" fill="#666" text-anchor="end">{escape(axis_note)}</text>'
    )
    for row, series in enumerate(health.series):
        out.extend(_strip(series, health, row, slot, bar_w, plot_w, zone))
    out.append("</svg>")
    return Markup("".join(out))


def _local(hour: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """A bucket's hour (naive UTC, as the tables keep it) in the shop's time zone."""
    return hour.replace(tzinfo=dt.UTC).astimezone(zone)


def _strip(series: Series, health: Health, row: int, slot: float, bar_w: float, plot_w: float, zone: dt.tzinfo) -> list[str]:
    y0 = TOP + row * ROW_H
    base = y0 + BAR_H
    top = _nice_top(series.peak)
    colour = LAG_COLOUR if series.unit == "s" else COLOURS.get(series.tone, COLOURS["neutral"])
    if series.unit == "s":
        summary = _("högst %(peak)s från Specters anrop till sista raden", peak=fmt_seconds(series.peak)) if series.peak else _("inga uppdateringar")
    else:
        summary = _("totalt %(total)s · högst %(peak)s/timme", total=_fmt_count(series.total), peak=_fmt_count(series.peak))
    out = [
        f'<g class="specter-health-row" data-key="{escape(series.key)}" data-total="{series.total:g}">',
        f'<rect x="8" y="{y0 + 8}" width="10" height="10" fill="{colour}"/>',
        f'<text x="24" y="{y0 + 17}" font-size="13" font-weight="600" fill="#212529">{escape(series.label)}</text>',
        f'<text x="24" y="{y0 + 34}" font-size="11.5" fill="#5a6268">{escape(summary)}</text>',
        f'<line x1="{LABEL_W}" y1="{base}" x2="{LABEL_W + plot_w}" y2="{base}" stroke="#adb5bd" stroke-width="1"/>',
        f'<text x="{LABEL_W + plot_w + 6}" y="{y0 + 10}" font-size="10.5" fill="#6c757d">{escape(_fmt(series, top))}</text>',
        f'<text x="{LABEL_W + plot_w + 6}" y="{base}" font-size="10.5" fill="#6c757d">0</text>',
        f'<line x1="{LABEL_W}" y1="{base - BAR_H}" x2="{LABEL_W + plot_w}" y2="{base - BAR_H}" stroke="#e2e6ea" stroke-dasharray="3 3"/>',
    ]
    for i, value in enumerate(series.values):
        if not value:
            continue
        h = max(1.5, BAR_H * value / top)
        x = LABEL_W + i * slot + (slot - bar_w) / 2
        at = _local(health.hour(i), zone)
        tip = f"{at:%Y-%m-%d %H}:00–{(at.hour + 1) % 24:02d}:00: {_fmt(series, value)}"
        out.append(
            f'<rect x="{x:.2f}" y="{base - h:.2f}" width="{bar_w:.2f}" height="{h:.2f}" fill="{colour}"><title>{escape(tip)}</title></rect>'
        )
    out.append("</g>")
    return out
