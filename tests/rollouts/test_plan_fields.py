"""A plan's fields and defaults have one home (``controlplane/rollouts/plan_fields.py``): the
models, the admin editor, the API, the audit diff and the decision core agree with it."""

from __future__ import annotations

import dataclasses

from controlplane.api.rollouts import RolloutPlanSerializer, RuleSerializer, StageSerializer
from controlplane.rollouts import forms, plan_fields
from controlplane.rollouts import plan_spec as core
from controlplane.rollouts.models import HealthRule, RolloutPlan, Stage


def model_defaults(model) -> dict:
    """The defaults the model's columns have (the ones with a default)."""
    return {field.name: field.default for field in model._meta.concrete_fields if field.has_default()}


def test_the_models_defaults_are_the_plan_fields_defaults():
    for model, defaults in ((RolloutPlan, plan_fields.PLAN_DEFAULTS), (HealthRule, plan_fields.RULE_DEFAULTS),
                            (Stage, plan_fields.STAGE_DEFAULTS)):  # fmt: skip
        columns = model_defaults(model)
        shared = {name for name, value in defaults.items() if value is not None and name in columns}
        assert {name: columns[name] for name in shared} == {name: defaults[name] for name in shared}
    assert {name: model_defaults(RolloutPlan)[name] for name in ("max_hold_s", "starvation_timeout_s", "alpha")} == {
        "max_hold_s": 4 * 3600,
        "starvation_timeout_s": 1800,
        "alpha": 0.05,
    }
    assert {name: model_defaults(HealthRule)[name] for name in ("window_s", "min_samples")} == {
        "window_s": 300,
        "min_samples": 500,
    }


def test_the_decision_cores_defaults_are_the_plan_fields_defaults():
    plan = {field.name: field.default for field in dataclasses.fields(core.PlanSpec)}
    rule = {field.name: field.default for field in dataclasses.fields(core.RuleSpec)}
    assert (plan["max_hold_s"], plan["starvation_timeout_s"], plan["alpha"]) == (
        plan_fields.MAX_HOLD_S,
        plan_fields.STARVATION_TIMEOUT_S,
        plan_fields.ALPHA,
    )
    assert (rule["window_s"], rule["min_samples"]) == (plan_fields.WINDOW_S, plan_fields.MIN_SAMPLES)


def test_the_admin_editor_starts_from_the_plan_fields_defaults():
    plan_form, rule_form = forms.PlanForm(), forms.RuleForm()
    for name in ("max_hold_s", "starvation_timeout_s", "alpha"):
        assert plan_form.fields[name].initial == plan_fields.PLAN_DEFAULTS[name]
    for name in ("window_s", "min_samples"):
        assert rule_form.fields[name].initial == plan_fields.RULE_DEFAULTS[name]
    assert set(forms.StageForm().fields) == set(plan_fields.STAGE_FIELDS)
    assert set(rule_form.fields) == set(plan_fields.RULE_FIELDS)


def test_the_api_shows_every_field_of_a_plan_its_stages_and_its_rules():
    assert set(plan_fields.PLAN_FIELDS) <= set(RolloutPlanSerializer().fields)
    assert list(StageSerializer().fields) == list(plan_fields.STAGE_FIELDS)
    assert list(RuleSerializer().fields) == list(plan_fields.RULE_FIELDS)
