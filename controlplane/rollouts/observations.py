"""What one tick observed: each health rule's counts per arm, per stage served and over its window.

Plain frozen dataclasses, no Django: ``tick_inputs.py`` measures them from the metric sources,
``rules.py`` judges them and ``decision.py`` reads them for starvation and the sample-ratio
check. The simulator in ``bench/rollout_sim.py`` builds them from synthetic traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ArmCounts:
    """Counts for one variant.

    ``total``: trials (requests, or the ratio's denominator).
    ``events``: bad trials (errors, or the ratio's numerator).
    ``histogram``: latency bucket counts aligned with the rule's
    ``bucket_bounds_ms`` plus a final overflow bucket (latency rules only;
    ``total`` should equal its sum).
    ``groups``: (trials, events) per unit group (``flagplane.metrics.UNIT_GROUPS``
    hash groups of the randomisation unit) for the trials that came with one;
    ``group_histograms``: the latency histogram per unit group (latency rules).
    ``ungrouped``: trials reported by SDKs that send no unit groups (wire
    format 1). Comparative rules are judged per unit when every segment of
    both arms has groups and no ungrouped trials, otherwise conservatively per
    request (docs/rollout-statistics.md).
    """

    total: int = 0
    events: int = 0
    histogram: tuple[int, ...] = ()
    groups: tuple[tuple[int, int], ...] = ()
    group_histograms: tuple[tuple[int, ...], ...] = ()
    ungrouped: int = 0


@dataclass(frozen=True)
class SegmentCounts:
    """Counts of both variants over one period."""

    treatment: ArmCounts = field(default_factory=ArmCounts)
    control: ArmCounts = field(default_factory=ArmCounts)


@dataclass(frozen=True)
class RuleObservation:
    """Data for one rule at one tick.

    ``segments``: cumulative counts since ``runtime.run_started_at``, one entry
    per element of ``runtime.segment_starts`` (one per stage served in this
    run). Passing a single segment with everything since the run started is
    accepted (slightly approximate after a change of split). Used by
    comparative rules, by the minimum-sample check and by starvation detection.
    ``window``: counts over the trailing ``window_s`` (absolute-threshold rules;
    for them a non-empty window also counts as fresh data, so a source that
    only knows the window does not starve the stage).
    """

    rule_id: str
    segments: tuple[SegmentCounts, ...] = ()
    window: SegmentCounts | None = None
