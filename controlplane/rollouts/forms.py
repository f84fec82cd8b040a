"""Admin forms of rollout plans: the plan editor (plan fields, a stages and a rules formset) and actions.

The editor turns its fields into the plan body the REST API takes (see ``validation.validate_plan``)
for ``services.create_plan``/``update_plan``, and routes the ``PlanError`` paths it gets back
(``stages.1.percent``, ``rules.0.threshold``) onto the row and field they name. Blank fields are
left out of the body, so the service's defaults and messages apply, not a second copy of them here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms

from controlplane.admin_forms import ReasonField
from controlplane.flags.models import Flag
from controlplane.projects.models import Environment
from controlplane.rollouts import plan_fields
from controlplane.rollouts.models import HealthRule, RolloutPlan
from controlplane.rollouts.plan_fields import PLAN_FIELDS, RULE_FIELDS, STAGE_FIELDS

DEFAULT_STAGES = [
    {"percent": Decimal(1), "min_dwell_s": 600},
    {"percent": Decimal(5), "min_dwell_s": 1800},
    {"percent": Decimal(25), "min_dwell_s": 3600},
    {"percent": Decimal(100), "min_dwell_s": 600},
]


def _number_input(width: str = "6em", step: str = "any") -> forms.NumberInput:
    return forms.NumberInput(attrs={"step": step, "style": f"width: {width}"})


class FlagChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, flag: Flag) -> str:
        return f"{flag.project.key} / {flag.key}" + (f" ({flag.name})" if flag.name and flag.name != flag.key else "")


class EnvironmentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, environment: Environment) -> str:
        return f"{environment.project.key} / {environment.key}"


class PlanForm(forms.Form):
    """The plan's own fields; ``flag`` and ``environment`` only when adding."""

    flag = FlagChoiceField(queryset=Flag.objects.none(), help_text="The flag whose default serve is rolled out.")
    environment = EnvironmentChoiceField(queryset=Environment.objects.none(), help_text="Of the flag's project.")
    name = forms.CharField(required=False, max_length=200, widget=forms.TextInput(attrs={"size": 50}),
                           help_text='Empty: "<flag> in <environment>".')  # fmt: skip
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 70}))
    treatment_variant = forms.CharField(
        required=False, max_length=128, help_text='The variant being rolled out. Empty: "on" for a boolean flag.'
    )
    control_variant = forms.CharField(
        required=False, max_length=128, help_text="What everyone else gets. Empty: the flag's off variant."
    )
    advance_mode = forms.ChoiceField(choices=RolloutPlan.AdvanceMode.choices, initial=RolloutPlan.AdvanceMode.TIME)
    max_hold_s = forms.IntegerField(
        required=False, initial=plan_fields.MAX_HOLD_S, label="Max hold (s)", widget=_number_input("8em", "1"),
        help_text=RolloutPlan._meta.get_field("max_hold_s").help_text,
    )  # fmt: skip
    starvation_timeout_s = forms.IntegerField(
        required=False, initial=plan_fields.STARVATION_TIMEOUT_S, label="Starvation timeout (s)",
        widget=_number_input("8em", "1"), help_text=RolloutPlan._meta.get_field("starvation_timeout_s").help_text,
    )  # fmt: skip
    alpha = forms.FloatField(
        required=False, initial=plan_fields.ALPHA, widget=_number_input("6em"),
        help_text=RolloutPlan._meta.get_field("alpha").help_text,
    )  # fmt: skip
    reason = ReasonField(cols=70)

    def __init__(self, *args: Any, plan: RolloutPlan | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.plan = plan
        if plan is not None:
            del self.fields["flag"], self.fields["environment"]
            variants = [(key, key) for key in plan.flag.variant_keys()]
            for name in ("treatment_variant", "control_variant"):
                self.fields[name] = forms.ChoiceField(
                    choices=variants, help_text=self.fields[name].help_text.split(" Empty")[0]
                )
        else:
            self.fields["flag"].queryset = (
                Flag.objects.filter(archived=False).select_related("project").order_by("project__key", "key")
            )
            self.fields["environment"].queryset = Environment.objects.select_related("project").order_by(
                "project__key", "position", "key"
            )

    def plan_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        body = {name: data[name] for name in ("name", "description", "advance_mode")}
        for name in ("treatment_variant", "control_variant", "max_hold_s", "starvation_timeout_s", "alpha"):
            if data.get(name) not in (None, ""):
                body[name] = data[name]
        body["name"] = body["name"].strip()
        return body


class StageForm(forms.Form):
    percent = forms.DecimalField(required=False, label="Percent", widget=_number_input("7em"))
    min_dwell_s = forms.IntegerField(required=False, label="Min dwell (s)", widget=_number_input("7em", "1"))
    needs_approval = forms.BooleanField(required=False, label="Needs approval")
    external_check_url = forms.CharField(
        required=False, label="External check URL", widget=forms.URLInput(attrs={"size": 40})
    )

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", None) or {}
        return data.get("percent") is None and data.get("min_dwell_s") is None and not data.get("external_check_url")

    def stage(self) -> dict[str, Any]:
        data = self.cleaned_data
        stage: dict[str, Any] = {"needs_approval": data["needs_approval"]}
        for name in ("percent", "min_dwell_s"):
            if data.get(name) is not None:
                stage[name] = data[name]
        if data["external_check_url"].strip():
            stage["external_check_url"] = data["external_check_url"].strip()
        return stage


class RuleForm(forms.Form):
    key = forms.CharField(required=False, label="Key", widget=forms.TextInput(attrs={"size": 10}))
    name = forms.CharField(required=False, label="Name", widget=forms.TextInput(attrs={"size": 14}))
    metric = forms.ChoiceField(choices=HealthRule.Metric.choices, initial=HealthRule.Metric.ERROR_RATE)
    comparison = forms.ChoiceField(
        choices=HealthRule.Comparison.choices, initial=HealthRule.Comparison.VS_CONTROL_ABSOLUTE
    )
    threshold = forms.FloatField(required=False, label="Threshold", widget=_number_input("6em"))
    percentile = forms.FloatField(required=False, label="Percentile", widget=_number_input("4.5em"))
    window_s = forms.IntegerField(
        required=False, initial=plan_fields.WINDOW_S, label="Window (s)", widget=_number_input("5em", "1")
    )
    min_samples = forms.IntegerField(
        required=False, initial=plan_fields.MIN_SAMPLES, label="Min samples", widget=_number_input("6em", "1")
    )
    severity = forms.ChoiceField(choices=HealthRule.Severity.choices, initial=HealthRule.Severity.ROLLBACK)
    source = forms.ChoiceField(choices=HealthRule.Source.choices, initial=HealthRule.Source.SDK)
    source_url = forms.CharField(required=False, label="Source URL", widget=forms.URLInput(attrs={"size": 22}))
    source_json_path = forms.CharField(required=False, label="JSON path", widget=forms.TextInput(attrs={"size": 12}))
    source_events_query = forms.CharField(
        required=False, label="PromQL: bad events", widget=forms.TextInput(attrs={"size": 22})
    )
    source_total_query = forms.CharField(
        required=False, label="PromQL: trials", widget=forms.TextInput(attrs={"size": 22})
    )

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", None) or {}
        filled = ("key", "name", "threshold", "source_url", "source_events_query", "source_total_query")
        return not any(data.get(name) not in (None, "") for name in filled)

    def rule(self) -> dict[str, Any]:
        data = self.cleaned_data
        rule = {name: data[name] for name in ("metric", "comparison", "severity", "source")}
        for name in ("key", "name", "source_url", "source_json_path", "source_events_query", "source_total_query"):
            if data[name].strip():
                rule[name] = data[name].strip()
        for name in ("threshold", "percentile", "window_s", "min_samples"):
            if data.get(name) is not None:
                rule[name] = data[name]
        return rule


MAX_ROWS = 20  # as many stages or rules as a plan may have (validation.MAX_STAGES, MAX_RULES)
StageFormSet = forms.formset_factory(StageForm, extra=2, can_delete=True, max_num=MAX_ROWS, absolute_max=MAX_ROWS + 5)
RuleFormSet = forms.formset_factory(RuleForm, extra=1, can_delete=True, max_num=MAX_ROWS, absolute_max=MAX_ROWS + 5)


@dataclass
class Problem:
    where: str
    message: str


@dataclass
class PlanEditor:
    """The add/change page of a draft plan: its forms, the body they make, the errors routed back."""

    plan: RolloutPlan | None = None
    data: Any = None
    initial: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        plan = self.plan
        if plan is not None:
            initial = {name: getattr(plan, name) for name in PLAN_FIELDS}
            stages = [{name: getattr(stage, name) for name in STAGE_FIELDS} for stage in plan.stages.all()]
            for stage in stages:  # 5.000 -> "5"
                stage["percent"] = f"{stage['percent'].normalize():f}"
            rules = [{name: getattr(rule, name) for name in RULE_FIELDS} for rule in plan.rules.all()]
        else:
            initial, stages, rules = dict(self.initial), DEFAULT_STAGES, []
        self.form = PlanForm(self.data, plan=plan, initial=initial)
        # Every row is cleaned (none is skipped as "unchanged": a prefilled default stage sent back
        # as it was is still a stage); rows left blank are dropped by body().
        rows = {"form_kwargs": {"empty_permitted": False}}
        self.stages = StageFormSet(self.data, prefix="stages", initial=stages, **rows)
        self.rules = RuleFormSet(self.data, prefix="rules", initial=rules, **rows)
        self._stage_forms: list[StageForm] = []  # body index -> form
        self._rule_forms: list[RuleForm] = []

    @classmethod
    def with_more_room(cls, plan: RolloutPlan | None, data: Any, *, stages: int = 0, rules: int = 0) -> PlanEditor:
        """The same unsaved input with room for more stages or rules; nothing is validated or saved."""
        data = data.copy()
        for key, more in (("stages-TOTAL_FORMS", stages), ("rules-TOTAL_FORMS", rules)):
            with contextlib.suppress(ValueError):
                data[key] = str(min(int(data.get(key, 0)) + more, MAX_ROWS))
        return cls(plan, data)

    def is_valid(self) -> bool:
        valid = [part.is_valid() for part in (self.form, self.stages, self.rules)]
        for where, form in self._labelled_forms():
            for name, messages in form.errors.items():
                label = where if name == "__all__" else ", ".join(filter(None, [where, self._label(form, name)]))
                self.problems.extend(Problem(label, message) for message in messages)
        for where, formset in (("Stages", self.stages), ("Rules", self.rules)):
            self.problems.extend(Problem(where, message) for message in formset.non_form_errors())
        return all(valid)

    def _labelled_forms(self) -> list[tuple[str, forms.Form]]:
        return [
            ("", self.form),
            *((f"Stage {n}", form) for n, form in enumerate(self.stages.forms, 1)),
            *((f"Rule {n}", form) for n, form in enumerate(self.rules.forms, 1)),
        ]

    @staticmethod
    def _label(form: forms.Form, name: str) -> str:
        return str(form.fields[name].label or name.replace("_", " ").capitalize()) if name in form.fields else name

    @property
    def reason(self) -> str:
        return self.form.cleaned_data["reason"].strip()

    def target(self) -> tuple[Flag, Environment]:
        return self.form.cleaned_data["flag"], self.form.cleaned_data["environment"]

    def body(self) -> dict[str, Any]:
        """The plan body for create_plan/update_plan (call after is_valid): empty rows are skipped."""
        self._stage_forms = [form for form in self._kept(self.stages) if isinstance(form, StageForm)]
        self._rule_forms = [form for form in self._kept(self.rules) if isinstance(form, RuleForm)]
        return {
            **self.form.plan_fields(),
            "stages": [form.stage() for form in self._stage_forms],
            "rules": [form.rule() for form in self._rule_forms],
        }

    @staticmethod
    def _kept(formset: forms.BaseFormSet) -> list[forms.Form]:
        deleted = set(map(id, formset.deleted_forms))
        return [form for form in formset.forms if id(form) not in deleted and not form.is_blank()]

    def show_errors(self, errors: dict[str, list[str]]) -> None:
        """Put each PlanError message next to the field it names, and list them all at the top."""
        for path, messages in errors.items():
            form, name, where = self._locate(path.split("."))
            for message in messages:
                self.problems.append(Problem(where, message))
                if name is not None and name in form.fields:
                    form.add_error(name, message)
                else:
                    form.add_error(None, message)

    def _locate(self, parts: list[str]) -> tuple[forms.Form, str | None, str]:
        head, rest = parts[0], parts[1:]
        rows = {"stages": (self._stage_forms, self.stages, "Stage"), "rules": (self._rule_forms, self.rules, "Rule")}
        if head in rows:
            kept, formset, noun = rows[head]
            if rest and rest[0].isdigit() and int(rest[0]) < len(kept):
                form = kept[int(rest[0])]
                where = f"{noun} {formset.forms.index(form) + 1}"
                name = rest[1] if len(rest) > 1 else None
                return form, name, ", ".join(filter(None, [where, self._label(form, name) if name else ""]))
            return self.form, None, f"{noun}s"
        if head in self.form.fields:
            return self.form, head, self._label(self.form, head)
        return self.form, None, "" if head in ("plan", "status") else head


class ActionForm(forms.Form):
    """A person's action on a plan: a reason, and for resume/approve a stage (1-based)."""

    reason = ReasonField(
        cols=40,
        attrs={"placeholder": "Why? (audit log)"},
        help_text="Recorded in the audit log and sent with the webhooks.",
    )
    from_stage = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="From stage")
    stage = forms.IntegerField(required=False, widget=forms.HiddenInput)
    confirm = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, plan: RolloutPlan, reason_required: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        default = "current stage" if plan.status == RolloutPlan.Status.PAUSED else "stage 1"
        self.fields["from_stage"].choices = [
            ("", f"— default ({default}) —"),
            *((n, f"stage {n}: {stage.percent.normalize():f}%") for n, stage in enumerate(plan.stages.all(), 1)),
        ]
        self.fields["reason"].required = reason_required
        if reason_required:
            self.fields["reason"].error_messages["required"] = "Say why: it goes to the audit log and the webhooks."
