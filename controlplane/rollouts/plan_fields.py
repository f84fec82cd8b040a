"""A rollout plan's definition, written once: its fields, its stages' and rules' fields, and
their defaults. The validation, the admin editor, the audit diff, the API serializers, the models
and the decision core read them from here.

Plain data with no Django, so the pure decision core reads it too. A default of ``None`` means
"none here": the validation derives it (the variants from the flag, a rule's key from its place)
or requires the field.
"""

from __future__ import annotations

from typing import Any

MAX_HOLD_S = 4 * 3600
"""Evidence mode: pause for a person if evidence is still short this long after the dwell."""
STARVATION_TIMEOUT_S = 1800
"""Pause with "not enough traffic" after this long without new treatment data."""
ALPHA = 0.05
"""Error probability of every confidence sequence (0.05: 95% bounds)."""
ALPHA_LIMIT = 0.5
"""Alpha must be above 0 and under this (a two-sided bound at 50% says nothing)."""
WINDOW_S = 300
"""Absolute-threshold rules: the trailing window."""
MIN_SAMPLES = 500
"""Trials a rule needs before it may decide anything."""

PLAN_DEFAULTS: dict[str, Any] = {
    "name": "",
    "description": "",
    "treatment_variant": None,
    "control_variant": None,
    "advance_mode": "time",
    "max_hold_s": MAX_HOLD_S,
    "starvation_timeout_s": STARVATION_TIMEOUT_S,
    "alpha": ALPHA,
}
STAGE_DEFAULTS: dict[str, Any] = {
    "percent": None,
    "min_dwell_s": None,
    "needs_approval": False,
    "external_check_url": "",
}
RULE_DEFAULTS: dict[str, Any] = {
    "key": None,
    "name": "",
    "metric": "error_rate",
    "comparison": "vs_control_absolute",
    "threshold": None,
    "percentile": None,
    "window_s": WINDOW_S,
    "min_samples": MIN_SAMPLES,
    "severity": "rollback",
    "source": "sdk",
    "source_url": "",
    "source_json_path": "",
    "source_events_query": "",
    "source_total_query": "",
}

PLAN_FIELDS: tuple[str, ...] = tuple(PLAN_DEFAULTS)
STAGE_FIELDS: tuple[str, ...] = tuple(STAGE_DEFAULTS)
RULE_FIELDS: tuple[str, ...] = tuple(RULE_DEFAULTS)
