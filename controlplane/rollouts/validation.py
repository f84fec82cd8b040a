"""Validation of a rollout plan as a whole: every problem reported with its field, nothing saved."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug

from controlplane import outbound
from controlplane.errors import ErrorCollector, join_path
from controlplane.flags.models import Flag
from controlplane.flags.validation import finite_decimal
from controlplane.metrics.errors import SourceError
from controlplane.metrics.sources import parse_path
from controlplane.rollouts import plan_spec as core
from controlplane.rollouts.errors import PlanError
from controlplane.rollouts.models import HealthRule, RolloutPlan
from controlplane.rollouts.plan_fields import (
    ALPHA,
    ALPHA_LIMIT,
    PLAN_DEFAULTS,
    PLAN_FIELDS,
    RULE_DEFAULTS,
    RULE_FIELDS,
    STAGE_DEFAULTS,
    STAGE_FIELDS,
)

MAX_QUERY_LENGTH = 2000
MAX_COLUMN_INT = 2**31 - 1  # PositiveIntegerField
MAX_STAGES = 20
MAX_RULES = 20


def _positive_int(value: Any, path: str, errors: ErrorCollector, minimum: int = 1, unit: str = "seconds") -> int | None:
    """A whole number from ``minimum`` up to what the database column holds."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value != int(value)
        or value < minimum
    ):
        errors.add(path, f"A whole number of {unit}, at least {minimum}.")
        return None
    if value > MAX_COLUMN_INT:
        errors.add(path, f"At most {MAX_COLUMN_INT}.")
        return None
    return int(value)


def _url(value: Any, path: str, errors: ErrorCollector) -> str:
    if value in (None, ""):
        return ""
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        errors.add(path, "An http(s) URL.")
        return ""
    problem = outbound.url_problem(value)
    if problem:
        errors.add(path, f"This URL will not be called: {problem}.")
        return ""
    return value


def validate_plan(flag: Flag, data: dict[str, Any]) -> dict[str, Any]:
    """Check a plan body and return it normalized: {plan fields..., "stages": [...], "rules": [...]}."""
    errors = ErrorCollector(PlanError)
    unknown = set(data) - set(PLAN_FIELDS) - {"stages", "rules"}
    for field in sorted(unknown):
        errors.add(field, "Unknown field.")
    plan = {field: data.get(field, default) for field, default in PLAN_DEFAULTS.items()}
    variants = flag.variant_keys()
    if plan["treatment_variant"] is None:
        plan["treatment_variant"] = "on" if flag.kind == Flag.Kind.BOOLEAN else None
    if plan["control_variant"] is None:
        plan["control_variant"] = flag.off_variant
    for field in ("treatment_variant", "control_variant"):
        if plan[field] not in variants:
            errors.add(field, f"One of the flag's variants: {variants}.")
    if plan["treatment_variant"] == plan["control_variant"] and plan["treatment_variant"] in variants:
        errors.add("control_variant", "The control must be a different variant from the treatment.")
    if plan["advance_mode"] not in RolloutPlan.AdvanceMode.values:
        errors.add("advance_mode", f"One of {RolloutPlan.AdvanceMode.values}.")
    plan["max_hold_s"] = _positive_int(plan["max_hold_s"], "max_hold_s", errors, minimum=0)
    plan["starvation_timeout_s"] = _positive_int(plan["starvation_timeout_s"], "starvation_timeout_s", errors)
    alpha = plan["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < ALPHA_LIMIT:
        errors.add("alpha", f"A probability between 0 and {ALPHA_LIMIT}, e.g. {ALPHA}.")
    for field in ("name", "description"):
        if not isinstance(plan[field], str):
            errors.add(field, "Text.")
    plan["stages"] = _validate_stages(data.get("stages"), errors)
    plan["rules"] = _validate_rules(data.get("rules", []), errors)
    errors.raise_if_any()
    _check_with_core(plan, errors)
    errors.raise_if_any()
    return plan


def _validate_stages(stages: Any, errors: ErrorCollector) -> list[dict]:
    if not isinstance(stages, list) or not stages:
        errors.add("stages", 'At least one stage: [{"percent": 1, "min_dwell_s": 600}, ...].')
        return []
    if len(stages) > MAX_STAGES:
        errors.add("stages", f"At most {MAX_STAGES} stages.")
    normalized, previous = [], Decimal(0)
    for index, stage in enumerate(stages):
        path = join_path("stages", index)
        if not isinstance(stage, dict):
            errors.add(path, 'A stage is {"percent": ..., "min_dwell_s": ...}.')
            continue
        for field in sorted(set(stage) - set(STAGE_FIELDS)):
            errors.add(join_path(path, field), "Unknown field.")
        percent = finite_decimal(stage.get("percent"))
        if percent is None or not Decimal(0) < percent <= Decimal(100):
            errors.add(join_path(path, "percent"), "A percentage above 0 and at most 100.")
        elif percent != percent.quantize(Decimal("0.001")):
            errors.add(join_path(path, "percent"), "At most three decimals (0.001% granularity).")
        elif percent <= previous:
            errors.add(join_path(path, "percent"), f"Stages must increase: this one is not above {previous}%.")
        else:
            previous = percent
        dwell = _positive_int(stage.get("min_dwell_s"), join_path(path, "min_dwell_s"), errors)
        needs_approval = stage.get("needs_approval", STAGE_DEFAULTS["needs_approval"])
        if not isinstance(needs_approval, bool):
            errors.add(join_path(path, "needs_approval"), "true or false.")
        url = _url(
            stage.get("external_check_url", STAGE_DEFAULTS["external_check_url"]),
            join_path(path, "external_check_url"),
            errors,
        )
        normalized.append(
            {"percent": percent, "min_dwell_s": dwell, "needs_approval": needs_approval, "external_check_url": url}
        )
    return normalized


def _validate_rules(rules: Any, errors: ErrorCollector) -> list[dict]:
    if not isinstance(rules, list):
        errors.add("rules", "A list of health rules.")
        return []
    if len(rules) > MAX_RULES:
        errors.add("rules", f"At most {MAX_RULES} rules.")
    normalized, keys = [], set()
    for index, rule in enumerate(rules):
        path = join_path("rules", index)
        if not isinstance(rule, dict):
            errors.add(path, 'A rule is {"key", "metric", "comparison", "threshold", ...}.')
            continue
        for field in sorted(set(rule) - set(RULE_FIELDS)):
            errors.add(join_path(path, field), "Unknown field.")
        item = {field: rule.get(field, default) for field, default in RULE_DEFAULTS.items()}
        item["key"] = item["key"] or f"rule-{index + 1}"
        try:
            validate_slug(item["key"])
        except (ValidationError, TypeError):
            errors.add(join_path(path, "key"), "Letters, digits, '-' and '_'.")
        if item["key"] in keys:
            errors.add(join_path(path, "key"), f"Rule key {item['key']!r} appears twice.")
        keys.add(item["key"])
        for field, choices in (
            ("metric", HealthRule.Metric.values),
            ("comparison", HealthRule.Comparison.values),
            ("severity", HealthRule.Severity.values),
            ("source", HealthRule.Source.values),
        ):
            if item[field] not in choices:
                errors.add(join_path(path, field), f"Unknown {field} {item[field]!r}; one of {choices}.")
        threshold = item["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
            errors.add(join_path(path, "threshold"), "A number of at least 0 (a rate like 0.005, or milliseconds).")
        elif (
            item["metric"] in ("error_rate", "ratio") and item["comparison"] != "vs_control_relative" and threshold > 1
        ):
            errors.add(join_path(path, "threshold"), "A rate is a fraction: 0.005 means 0.5 percentage points.")
        if item["metric"] == "latency_p":
            percentile = item["percentile"]
            if isinstance(percentile, bool) or not isinstance(percentile, int | float) or not 0 < percentile < 1:
                errors.add(
                    join_path(path, "percentile"), "A latency rule needs a percentile between 0 and 1, e.g. 0.95."
                )
        item["window_s"] = _positive_int(item["window_s"], join_path(path, "window_s"), errors)
        item["min_samples"] = _positive_int(item["min_samples"], join_path(path, "min_samples"), errors, unit="samples")
        if item["source"] == HealthRule.Source.HTTP:
            _validate_http_source(item, path, errors)
        elif item["source"] == HealthRule.Source.PROMETHEUS:
            _validate_prometheus_source(item, path, errors)
        elif item["metric"] == "ratio":
            errors.add(join_path(path, "metric"), "A custom ratio comes from an HTTP or a Prometheus source.")
        normalized.append(item)
    return normalized


def _validate_http_source(item: dict[str, Any], path: str, errors: ErrorCollector) -> None:
    if not item["source_url"]:
        errors.add(join_path(path, "source_url"), "An HTTP source needs the URL to read.")
    item["source_url"] = _url(item["source_url"], join_path(path, "source_url"), errors)
    if not item["source_json_path"]:
        errors.add(join_path(path, "source_json_path"), 'Where the number is, e.g. "data.0.value".')
    else:
        try:
            parse_path(item["source_json_path"])
        except SourceError as exc:
            errors.add(join_path(path, "source_json_path"), f"{exc}.")
    if item["comparison"] != "absolute_threshold" or item["metric"] == "latency_p":
        errors.add(
            join_path(path, "source"),
            "An HTTP source gives one number, so it serves absolute-threshold rate rules only.",
        )


def _validate_prometheus_source(item: dict[str, Any], path: str, errors: ErrorCollector) -> None:
    """Two PromQL templates (bad events, trials) per arm: any comparison of a rate, never latency."""
    if not item["source_url"] and not settings.ROLLOUTS_PROMETHEUS_URL:
        errors.add(join_path(path, "source_url"), "The Prometheus to query (ROLLOUTS_PROMETHEUS_URL is not set).")
    item["source_url"] = _url(item["source_url"], join_path(path, "source_url"), errors)
    examples = {
        "source_events_query": 'sum(increase(http_errors_total{variant="{variant}"}[{window}]))',
        "source_total_query": 'sum(increase(http_requests_total{variant="{variant}"}[{window}]))',
    }
    for field, example in examples.items():
        query = item[field]
        if not isinstance(query, str) or not query.strip():
            errors.add(join_path(path, field), f"A PromQL query, e.g. {example}.")
        elif len(query) > MAX_QUERY_LENGTH:
            errors.add(join_path(path, field), f"At most {MAX_QUERY_LENGTH} characters.")
        elif "{variant}" not in query and "{variants}" not in query:
            errors.add(join_path(path, field), f"Select the arm with {{variant}} (or {{variants}}), e.g. {example}.")
    if item["metric"] == "latency_p":
        errors.add(join_path(path, "metric"), "A Prometheus source counts events and trials: an error rate or a ratio.")


def _check_with_core(plan: dict[str, Any], errors: ErrorCollector) -> None:
    """The decision core's own consistency checks, as a last line of defence."""
    try:
        core.PlanSpec(
            stages=tuple(core.StageSpec(float(s["percent"]), float(s["min_dwell_s"])) for s in plan["stages"]),
            rules=tuple(
                core.RuleSpec(
                    id=r["key"],
                    metric=r["metric"],
                    comparison=r["comparison"],
                    threshold=float(r["threshold"]),
                    severity=r["severity"],
                    min_samples=r["min_samples"],
                    window_s=float(r["window_s"]),
                    percentile=r["percentile"],
                    bucket_bounds_ms=(1.0, 2.0) if r["metric"] == "latency_p" else (),
                )
                for r in plan["rules"]
            ),
            advance_mode=plan["advance_mode"],
            max_hold_s=float(plan["max_hold_s"]),
            starvation_timeout_s=float(plan["starvation_timeout_s"]),
            alpha=float(plan["alpha"]),
        )
    except ValueError as exc:
        errors.add("plan", str(exc))
