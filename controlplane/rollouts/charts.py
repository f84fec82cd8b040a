"""A rollout's timeline as inline SVG, drawn on the server: no chart library, no JavaScript.

A chart is a stack of panels that share one time axis (the treatment's share, the error rate of
each arm, its p95 latency...), each with its own y axis, gridlines, optional guide lines (a
rule's limit) and a legend. ``render_timeline`` returns markup safe to put in a template.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from controlplane.metrics.queries import timeline
from controlplane.rollouts.models import RolloutPlan

Point = tuple[float, float | None]
"""(Unix seconds, value); a value of None breaks the line (no data in that step)."""

TREATMENT_COLOR = "#c62828"
CONTROL_COLOR = "#1565c0"
SHARE_COLOR = "#2e7d32"
GUIDE_COLOR = "#8d6e63"
AXIS_COLOR = "#9e9e9e"
GRID_COLOR = "#e6e6e6"
TEXT_COLOR = "#555"

MARGIN_LEFT, MARGIN_RIGHT = 64, 16
PANEL_TOP, PANEL_BOTTOM = 26, 8  # room for the title and legend above each plot area
X_AXIS_HEIGHT = 24
GUIDE_LABEL_HEIGHT = 14  # a guide's label (font size 10) and its gap to the line
TIME_STEPS_S = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[Point]
    color: str
    step: bool = False
    """Hold each value until the next point (a setting, like the served percentage)."""
    dashed: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    series: Sequence[Series]
    format_value: Callable[[float], str] = lambda value: f"{value:g}"
    height: int = 150
    guides: Sequence[tuple[float, str]] = field(default_factory=tuple)
    """Horizontal reference lines: (value, label), e.g. an absolute-threshold rule's limit."""
    y_max: float | None = None
    """At least this much headroom on the y axis (e.g. the plan's last stage)."""


def percent(value: float) -> str:
    return f"{value:.3g}%" if value < 10 else f"{value:.0f}%"


def rate(value: float) -> str:
    """A fraction shown as a percentage: 0.0123 -> "1.23%"."""
    return percent(value * 100) if value else "0%"


def milliseconds(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 or not value else f"{value:.2g} ms"


def nice_ceiling(value: float, ticks: int = 4) -> tuple[float, float]:
    """An axis top at or above ``value`` and a round tick step (1, 2, 2.5 or 5 x 10^k)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0, 0.25
    raw = value / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    return step * math.ceil(value / step - 1e-9), step


def time_step(span_s: float, max_ticks: int = 8) -> int:
    return next((step for step in TIME_STEPS_S if span_s / step <= max_ticks), TIME_STEPS_S[-1])


def time_label(seconds: float, step: int, span_s: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    if span_s > 86400:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%H:%M:%S" if step < 60 else "%H:%M")


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def render_timeline(
    panels: Sequence[Panel], start: float, end: float, *, width: int = 900, title: str = ""
) -> SafeString:
    """One <svg> with the panels stacked over a shared time axis from ``start`` to ``end`` (Unix seconds)."""
    end = max(end, start + 1)
    plot_width = width - MARGIN_LEFT - MARGIN_RIGHT
    total_height = sum(panel.height for panel in panels) + X_AXIS_HEIGHT

    def x_of(seconds: float) -> float:
        return MARGIN_LEFT + (min(max(seconds, start), end) - start) / (end - start) * plot_width

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fp-chart" width="{width}" height="{total_height}" '
        f'viewBox="0 0 {width} {total_height}" role="img" aria-label="{escape(title or "Rollout timeline")}" '
        f'font-family="sans-serif" font-size="11">',
    ]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    top = 0
    step = time_step(end - start)
    ticks = [t for t in range(math.ceil(start / step) * step, int(end) + 1, step) if start <= t <= end]
    for panel in panels:
        parts.extend(_panel(panel, top, width, x_of, ticks))
        top += panel.height
    # The shared time axis, under the last panel.
    parts.append(f'<line x1="{MARGIN_LEFT}" y1="{top}" x2="{width - MARGIN_RIGHT}" y2="{top}" stroke="{AXIS_COLOR}"/>')
    for tick in ticks:
        x = _number(x_of(tick))
        parts.append(f'<line x1="{x}" y1="{top}" x2="{x}" y2="{top + 4}" stroke="{AXIS_COLOR}"/>')
        parts.append(
            f'<text x="{x}" y="{top + 16}" text-anchor="middle" fill="{TEXT_COLOR}">'
            f"{escape(time_label(tick, step, end - start))}</text>"
        )
    parts.append(
        f'<text x="4" y="{top + 16}" fill="{TEXT_COLOR}" font-size="10">UTC</text>'  # clear of the first tick's label
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every text above went through escape()


def _panel(panel: Panel, top: int, width: int, x_of: Callable[[float], float], ticks: list[int]) -> list[str]:
    plot_top, plot_bottom = top + PANEL_TOP, top + panel.height - PANEL_BOTTOM
    right = width - MARGIN_RIGHT
    values = [y for series in panel.series for _, y in series.points if y is not None]
    values += [value for value, _ in panel.guides]
    highest = max([*values, panel.y_max or 0.0], default=0.0)
    y_top, y_step = nice_ceiling(highest)

    def y_of(value: float) -> float:
        return plot_bottom - min(max(value, 0.0), y_top) / y_top * (plot_bottom - plot_top)

    parts = [
        f'<g class="fp-panel"><text class="fp-panel-title" x="{MARGIN_LEFT}" y="{top + 15}" font-weight="bold" '
        f'fill="#333">{escape(panel.title)}</text>'
    ]
    for tick in ticks:
        x = _number(x_of(tick))
        parts.append(f'<line x1="{x}" y1="{plot_top}" x2="{x}" y2="{plot_bottom}" stroke="{GRID_COLOR}"/>')
    count = round(y_top / y_step)
    for index in range(count + 1):
        value = index * y_step
        y = _number(y_of(value))
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{y}" x2="{right}" y2="{y}" stroke="{GRID_COLOR}"/>')
        parts.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y}" dy="0.35em" text-anchor="end" fill="{TEXT_COLOR}">'
            f"{escape(panel.format_value(value))}</text>"
        )
    parts.append(
        f'<line x1="{MARGIN_LEFT}" y1="{plot_top}" x2="{MARGIN_LEFT}" y2="{plot_bottom}" stroke="{AXIS_COLOR}"/>'
        f'<line x1="{MARGIN_LEFT}" y1="{plot_bottom}" x2="{right}" y2="{plot_bottom}" stroke="{AXIS_COLOR}"/>'
    )
    for value, label in panel.guides:
        y_value = y_of(value)
        y = _number(y_value)
        # Above its line, unless that reaches into the title and legend band: then under it.
        dy = "-0.4em" if y_value - GUIDE_LABEL_HEIGHT >= plot_top else "1.1em"
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{y}" x2="{right}" y2="{y}" stroke="{GUIDE_COLOR}" '
            f'stroke-dasharray="6 3"><title>{escape(label)}</title></line>'
            f'<text class="fp-guide-label" x="{right - 4}" y="{y}" dy="{dy}" text-anchor="end" '
            f'fill="{GUIDE_COLOR}" font-size="10">{escape(label)}</text>'
        )
    for series in panel.series:
        parts.extend(_series(series, x_of, y_of))
    if not values:
        parts.append(
            f'<text x="{(MARGIN_LEFT + right) / 2:.1f}" y="{(plot_top + plot_bottom) / 2:.1f}" text-anchor="middle" '
            f'fill="{AXIS_COLOR}">no data yet</text>'
        )
    parts.extend(_legend(panel.series, top, right))
    parts.append("</g>")
    return parts


def _series(series: Series, x_of: Callable[[float], float], y_of: Callable[[float], float]) -> list[str]:
    """One <path> per series (gaps become separate subpaths), plus dots for isolated points."""
    runs: list[list[tuple[float, float]]] = [[]]
    previous: float | None = None
    for seconds, value in sorted(series.points, key=lambda point: point[0]):
        if value is None:
            if runs[-1]:
                runs.append([])
            previous = None
            continue
        x, y = x_of(seconds), y_of(value)
        if series.step and previous is not None:
            runs[-1].append((x, previous))
        runs[-1].append((x, y))
        previous = y
    commands = []
    dots = []
    for run in runs:
        if not run:
            continue
        commands.append("M" + " L".join(f"{_number(x)},{_number(y)}" for x, y in run))
        if len(run) == 1:
            dots.append(run[0])
    dash = ' stroke-dasharray="5 3"' if series.dashed else ""
    label = escape(series.label)
    parts = [
        f'<path class="fp-series" d="{" ".join(commands)}" fill="none" stroke="{series.color}" stroke-width="2" '
        f'stroke-linejoin="round"{dash}><title>{label}</title></path>'
    ]
    parts.extend(
        f'<circle cx="{_number(x)}" cy="{_number(y)}" r="2.5" fill="{series.color}"><title>{label}</title></circle>'
        for x, y in dots
    )
    return parts


def _legend(series: Sequence[Series], top: int, right: int) -> list[str]:
    """Swatches and labels right-aligned on the panel's title line."""
    parts = []
    x = right
    for item in reversed(series):
        label = escape(item.label)
        x -= 7 * len(item.label) + 8
        dash = ' stroke-dasharray="5 3"' if item.dashed else ""
        parts.append(
            f'<line class="fp-legend-swatch" x1="{x - 24}" y1="{top + 11}" x2="{x - 4}" y2="{top + 11}" '
            f'stroke="{item.color}" stroke-width="2"{dash}/>'
            f'<text class="fp-legend" x="{x}" y="{top + 15}" fill="#333">{label}</text>'
        )
        x -= 36
    return parts


# --- a plan's timeline --------------------------------------------------------------------------

MAX_CHART_STEPS = 120
MAX_CHART_SPAN_S = 7 * 86400


def plan_timeline(plan: RolloutPlan, now: datetime | None = None, width: int = 900) -> SafeString | None:
    """The plan's chart: the served treatment share (from its decision log) over the health signals
    of both arms (from the SDK metrics). None before the plan has started."""
    decisions = list(plan.decisions.order_by("at", "id").values_list("at", "last_seen_at", "percent"))
    if not decisions:
        return None
    now = now or timezone.now()
    # A finished plan's chart ends a minute after its last decision; a live one at now.
    last_seen = max(seen for _, seen, _ in decisions)
    until = now if plan.is_active else last_seen + timedelta(seconds=60)
    since = max(decisions[0][0], until - timedelta(seconds=MAX_CHART_SPAN_S))
    until = max(until, since + timedelta(seconds=300))
    span_s = (until - since).total_seconds()

    share = [(at.timestamp(), float(value)) for at, _, value in decisions if at >= since]
    if not share or share[0][0] > since.timestamp():
        before = [float(value) for at, _, value in decisions if at < since]
        share.insert(0, (since.timestamp(), before[-1] if before else 0.0))
    share.append((until.timestamp(), share[-1][1]))
    treatment_label = f"treatment ({plan.treatment_variant})"
    control_label = f"control ({plan.control_variant})"
    panels = [
        Panel(
            f"Treatment share ({plan.treatment_variant})",
            [Series("served %", share, SHARE_COLOR, step=True)],
            percent,
            height=130,
        )
    ]

    bucket_s = settings.METRICS_BUCKET_SECONDS
    step_s = bucket_s * max(1, math.ceil(span_s / (MAX_CHART_STEPS * bucket_s)))
    steps = timeline(
        plan.environment_id,
        plan.flag.key,
        {"treatment": [plan.treatment_variant], "control": [plan.control_variant]},
        since,
        until,
        step_s,
    )

    def points(arm: str, name: str) -> list[Point]:
        return [((step["start"].timestamp() + step["end"].timestamp()) / 2, step["arms"][arm][name]) for step in steps]

    rules = list(plan.rules.all())
    error_guides = [
        (rule.threshold, f"limit of {rule.key}: {rate(rule.threshold)}")
        for rule in rules
        if rule.metric == "error_rate" and rule.comparison == "absolute_threshold" and rule.source == "sdk"
    ]
    panels.append(
        Panel(
            "Error rate",
            [
                Series(treatment_label, points("treatment", "error_rate"), TREATMENT_COLOR),
                Series(control_label, points("control", "error_rate"), CONTROL_COLOR, dashed=True),
            ],
            rate,
            guides=error_guides,
        )
    )
    latency_rules = [rule for rule in rules if rule.metric == "latency_p"]
    if latency_rules:
        latency_guides = [
            (rule.threshold, f"limit of {rule.key}: {milliseconds(rule.threshold)}")
            for rule in latency_rules
            if rule.comparison == "absolute_threshold" and rule.percentile == 0.95
        ]
        panels.append(
            Panel(
                "p95 latency",
                [
                    Series(treatment_label, points("treatment", "p95_ms"), TREATMENT_COLOR),
                    Series(control_label, points("control", "p95_ms"), CONTROL_COLOR, dashed=True),
                ],
                milliseconds,
                guides=latency_guides,
            )
        )
    title = f"{plan.flag.key} in {plan.environment.key}: treatment share and health, steps of {step_s} s"
    return render_timeline(panels, since.timestamp(), until.timestamp(), width=width, title=title)
