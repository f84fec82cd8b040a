"""The structured targeting editor of the admin: a flag state's targeting as fields.

Individual targets per variant, an ordered formset of rules with clause rows, serves as a variant
or a percentage split. ``TargetingEditor`` turns them into the targeting JSON of the SDK document
for ``update_flag_state`` and routes the ``TargetingError`` paths it gets back
(``rules.0.clauses.1.values.0``) onto the fields they name. The flag and segment forms are in
``forms.py``.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from django import forms

from controlplane.admin_forms import KeyListField, ReasonField
from controlplane.flags.forms import require_reason_in
from controlplane.flags.models import FlagState
from flagplane.operators import DATE_OPERATORS, NUMBER_OPERATORS, OPERATOR_ORDER

OPERATOR_CHOICES = [("", "— operator —"), *((op, op) for op in OPERATOR_ORDER)]
CLAUSE_ROWS = 4  # clause rows per rule; a rule that uses them all gets one more empty row
MAX_CLAUSE_ROWS = 50
CLAUSE_FIELDS = ("attribute", "op", "values", "negate", "case_insensitive")
INTEGER = re.compile(r"^[+-]?\d+$")


def render_values(values: list[Any]) -> str:
    return "\n".join(value if isinstance(value, str) else json.dumps(value) for value in values)


def parse_values(text: str, op: str) -> list[Any]:
    """One value per line; a single line may also be comma-separated (except for regex)."""
    text = text.strip()
    parts = text.splitlines() if "\n" in text or op == "regex" else text.split(",")
    values: list[Any] = [part.strip() for part in parts if part.strip()]
    if op in NUMBER_OPERATORS:
        values = [_number(value) for value in values]
    elif op in DATE_OPERATORS:
        values = [int(value) if INTEGER.match(value) else value for value in values]
    return values


def _number(text: str) -> Any:
    """An int or float; text that isn't a number is left as is for validation to report."""
    if INTEGER.match(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _normalized_text(text: str) -> str:
    return "\n".join(line.strip() for line in text.strip().splitlines() if line.strip())


class ServeFields:
    """A serve edited as a variant <select> or a percentage per variant (a split)."""

    def add_serve_fields(self, variants: list[str]) -> None:
        self.variants = variants
        self.fields["serve_mode"] = forms.ChoiceField(
            choices=[("variant", "one variant"), ("split", "a percentage split")],
            initial="variant",
            widget=forms.RadioSelect,
            label="Serve",
        )
        self.fields["serve_variant"] = forms.ChoiceField(
            choices=[("", "— variant —"), *((key, key) for key in variants)], required=False, label="Variant"
        )
        self.fields["split_order"] = forms.CharField(
            required=False, widget=forms.HiddenInput, initial=",".join(variants)
        )
        for index, key in enumerate(variants):
            self.fields[f"percent_{index}"] = forms.DecimalField(
                required=False,
                min_value=0,
                max_value=100,
                max_digits=6,
                decimal_places=3,
                label=key,
                widget=forms.NumberInput(attrs={"step": "0.001", "style": "width: 7em"}),
            )

    def split_order(self) -> list[int]:
        """Variant indexes in slice order: a split keeps its stored order, so re-saving moves nobody."""
        raw = self.data.get(self.add_prefix("split_order")) if self.is_bound else self["split_order"].value()
        order = [self.variants.index(key) for key in (raw or "").split(",") if key in self.variants]
        order = list(dict.fromkeys(order))
        return order + [index for index in range(len(self.variants)) if index not in order]

    def percent_fields(self) -> list[forms.BoundField]:
        return [self[f"percent_{index}"] for index in self.split_order()]

    def serve(self) -> tuple[dict[str, Any], list[int]]:
        """The serve in document form, and the variant index of each split slice."""
        data = self.cleaned_data
        # An unchosen variant or an empty split still goes to the domain validation, so that its
        # messages about the serve come together with those about the clauses.
        if data["serve_mode"] == "variant":
            return {"variant": data["serve_variant"]}, []
        order = [index for index in self.split_order() if data.get(f"percent_{index}") is not None]
        split = [
            {"variant": self.variants[index], "weight": int(Decimal(data[f"percent_{index}"]) * 1000)}
            for index in order
        ]
        return {"split": split}, order


def percent_text(weight: int) -> str:
    """12500 -> "12.5": a weight (thousandths of a percent) as the percentage a person types."""
    text = f"{Decimal(weight) / 1000:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def serve_initial(serve: dict[str, Any], variants: list[str]) -> dict[str, Any]:
    if "split" in serve:
        slices = serve["split"]
        initial: dict[str, Any] = {"serve_mode": "split"}
        listed = [item["variant"] for item in slices]
        initial["split_order"] = ",".join(listed + [key for key in variants if key not in listed])
        for item in slices:
            if item["variant"] in variants:
                initial[f"percent_{variants.index(item['variant'])}"] = percent_text(item["weight"])
        return initial
    return {"serve_mode": "variant", "serve_variant": serve.get("variant", "")}


class RuleForm(ServeFields, forms.Form):
    id = forms.CharField(required=False, widget=forms.HiddenInput)
    description = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"size": 70, "placeholder": "e.g. Beta testers on the pro plan"})
    )

    def __init__(self, *args: Any, variants: list[str], clause_rows: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.add_serve_fields(variants)
        self.clause_rows = clause_rows
        for row in range(clause_rows):
            self.fields[f"clause_{row}_attribute"] = forms.CharField(
                required=False, label="Attribute", widget=forms.TextInput(attrs={"size": 14, "placeholder": "plan"})
            )
            self.fields[f"clause_{row}_op"] = forms.ChoiceField(
                choices=OPERATOR_CHOICES, required=False, label="Operator"
            )
            self.fields[f"clause_{row}_values"] = forms.CharField(
                required=False,
                label="Values",
                widget=forms.Textarea(attrs={"rows": 2, "cols": 34, "placeholder": "one per line, or a, b, c"}),
            )
            self.fields[f"clause_{row}_negate"] = forms.BooleanField(required=False, label="not")
            self.fields[f"clause_{row}_case_insensitive"] = forms.BooleanField(required=False, label="ignore case")
            self.fields[f"clause_{row}_original"] = forms.CharField(required=False, widget=forms.HiddenInput)

    def clause_row_fields(self) -> list[dict[str, Any]]:
        rows = []
        for row in range(self.clause_rows):
            bound = {name: self[f"clause_{row}_{name}"] for name in (*CLAUSE_FIELDS, "original")}
            rows.append({"number": row + 1, **bound, "errors": [e for f in bound.values() for e in f.errors]})
        return rows

    def rule(self) -> tuple[dict[str, Any], list[int], list[int]]:
        """The rule in document form, the clause row of each clause and the variant of each slice."""
        data = self.cleaned_data
        clauses, rows = [], []
        for row in range(self.clause_rows):
            attribute = data[f"clause_{row}_attribute"].strip()
            op = data[f"clause_{row}_op"]
            text = data[f"clause_{row}_values"]
            if not (attribute or op or text.strip()):
                continue  # an empty row
            clauses.append(
                {
                    "attribute": attribute or ("key" if op == "in_segment" else ""),
                    "op": op,
                    "values": self._values(row, op, text),
                    "negate": data[f"clause_{row}_negate"],
                    "case_insensitive": data[f"clause_{row}_case_insensitive"],
                }
            )
            rows.append(row)
        serve, slices = self.serve()
        rule = {"description": data["description"].strip(), "clauses": clauses, "serve": serve}
        if data["id"]:
            rule = {"id": data["id"], **rule}
        return rule, rows, slices

    def _values(self, row: int, op: str, text: str) -> list[Any]:
        """Unchanged text keeps the stored values exactly (e.g. numbers given through the API for `in`)."""
        try:
            stored = json.loads(self.cleaned_data.get(f"clause_{row}_original") or "null")
        except json.JSONDecodeError:
            stored = None
        if (
            isinstance(stored, dict)
            and stored.get("op") == op
            and isinstance(stored.get("values"), list)
            and render_values(stored["values"]) == _normalized_text(text)
        ):
            return stored["values"]
        return parse_values(text, op)


def rule_initial(rule: dict[str, Any], variants: list[str]) -> dict[str, Any]:
    initial = {"id": rule.get("id", ""), "description": rule.get("description", "")}
    initial.update(serve_initial(rule.get("serve") or {}, variants))
    for row, clause in enumerate(rule.get("clauses", [])):
        initial[f"clause_{row}_attribute"] = clause.get("attribute", "")
        initial[f"clause_{row}_op"] = clause.get("op", "")
        initial[f"clause_{row}_values"] = render_values(clause.get("values", []))
        initial[f"clause_{row}_negate"] = clause.get("negate", False)
        initial[f"clause_{row}_case_insensitive"] = clause.get("case_insensitive", False)
        initial[f"clause_{row}_original"] = json.dumps({"op": clause.get("op"), "values": clause.get("values", [])})
    return initial


RuleFormSet = forms.formset_factory(RuleForm, extra=1, can_delete=True, can_order=True)


class TargetingForm(ServeFields, forms.Form):
    """Everything on the targeting page except the rules: bucketing, targets, default serve.

    On/off is not here: turning a flag on or off has its own confirmation page (``toggle_view``).
    """

    version = forms.IntegerField(widget=forms.HiddenInput)
    clause_rows = forms.IntegerField(widget=forms.HiddenInput, min_value=CLAUSE_ROWS, max_value=MAX_CLAUSE_ROWS)
    bucket_by = forms.CharField(
        initial="key", help_text="The context attribute whose value places a unit in a split (usually key)."
    )
    reason = ReasonField(cols=70)

    def __init__(self, *args: Any, variants: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.add_serve_fields(variants)
        for index, key in enumerate(variants):
            self.fields[f"targets_{index}"] = KeyListField(label=key, help_text="")

    def target_fields(self) -> list[forms.BoundField]:
        return [self[f"targets_{index}"] for index in range(len(self.variants))]


@dataclass
class Problem:
    where: str
    message: str


@dataclass
class _RuleSource:
    form: RuleForm
    number: int  # its position on the page, from 1
    clause_rows: list[int]  # clause index in the JSON -> row on the page
    slices: list[int]  # split slice index -> variant index


@dataclass
class TargetingEditor:
    """The targeting page of one flag state: its forms, the JSON they make, the errors routed back."""

    state: FlagState
    data: Any = None
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.variants = self.state.flag.variant_keys()
        rows = max([CLAUSE_ROWS] + [len(rule.get("clauses", [])) + 1 for rule in self.state.rules])
        if self.data is not None:
            with contextlib.suppress(ValueError):
                rows = min(max(int(self.data.get("clause_rows", rows)), CLAUSE_ROWS), MAX_CLAUSE_ROWS)
        self.form = TargetingForm(self.data, variants=self.variants, initial=self._initial(rows))
        require_reason_in(self.form, [self.state.environment])
        self.rules = RuleFormSet(
            self.data,
            prefix="rules",
            initial=[rule_initial(rule, self.variants) for rule in self.state.rules],
            form_kwargs={"variants": self.variants, "clause_rows": rows},
        )
        self._sources: list[_RuleSource] = []
        self._target_variants: list[int] = []
        self._default_slices: list[int] = []

    @classmethod
    def with_more_room(cls, state: FlagState, data: Any, *, rules: int = 0, clause_rows: int = 0) -> TargetingEditor:
        """The same unsaved input with room for more rules or clause rows; nothing is validated or saved."""
        data = data.copy()
        for key, more in (("rules-TOTAL_FORMS", rules), ("clause_rows", clause_rows)):
            with contextlib.suppress(ValueError):
                data[key] = str(int(data.get(key, 0)) + more)
        return cls(state, data)

    def _initial(self, rows: int) -> dict[str, Any]:
        state = self.state
        initial: dict[str, Any] = {
            "version": state.version,
            "clause_rows": rows,
            "bucket_by": state.bucket_by,
        }
        initial.update(serve_initial(state.default_serve or {}, self.variants))
        for target in state.targets:
            if target["variant"] in self.variants:
                initial[f"targets_{self.variants.index(target['variant'])}"] = "\n".join(target["keys"])
        return initial

    def is_valid(self) -> bool:
        form_ok = self.form.is_valid()
        rules_ok = self.rules.is_valid()
        for label, form in [("", self.form), *((f"Rule {n}", rule) for n, rule in enumerate(self.rules.forms, 1))]:
            for name, messages in form.errors.items():
                where = label if name == "__all__" else ", ".join(filter(None, [label, self._label(form, name)]))
                self.problems.extend(Problem(where, message) for message in messages)
        self.problems.extend(Problem("Rules", message) for message in self.rules.non_form_errors())
        return form_ok and rules_ok

    @staticmethod
    def _label(form: forms.Form, name: str) -> str:
        match = re.fullmatch(r"clause_(\d+)_(\w+)", name)
        if match:
            return f"clause {int(match[1]) + 1}, {form.fields[name].label.lower()}"
        return str(form.fields[name].label or name) if name in form.fields else name

    @cached_property
    def segment_keys(self) -> list[str]:
        """The keys an ``in_segment`` clause may name: the segments of the flag's project."""
        return list(self.state.flag.project.segments.values_list("key", flat=True))

    @property
    def expected_version(self) -> int:
        return self.form.cleaned_data["version"]

    @property
    def reason(self) -> str:
        return self.form.cleaned_data["reason"].strip()

    def changes(self) -> dict[str, Any]:
        """The targeting JSON for update_flag_state (call after is_valid)."""
        data = self.form.cleaned_data
        targets = []
        self._target_variants = []
        for index, key in enumerate(self.variants):
            keys = data[f"targets_{index}"]
            if keys:
                targets.append({"variant": key, "keys": keys})
                self._target_variants.append(index)
        rules = []
        self._sources = []
        for form in self.rules.ordered_forms:
            rule, clause_rows, slices = form.rule()
            rules.append(rule)
            self._sources.append(_RuleSource(form, self.rules.forms.index(form) + 1, clause_rows, slices))
        default_serve, self._default_slices = self.form.serve()
        return {
            "bucket_by": data["bucket_by"].strip(),
            "targets": targets,
            "rules": rules,
            "default_serve": default_serve,
        }

    def show_errors(self, errors: dict[str, list[str]]) -> None:
        """Put each TargetingError message next to the field it names, and list them all at the top."""
        for path, messages in errors.items():
            form, field_name, where = self._locate(path.split("."))
            unchosen = field_name == "serve_variant" and form is not None and not form.cleaned_data.get(field_name)
            for message in messages:
                message = "Choose the variant to serve." if unchosen else message
                self.problems.append(Problem(where, message))
                if form is not None and field_name in form.fields:
                    form.add_error(field_name, message)
                elif form is not None:
                    form.add_error(None, f"{where}: {message}" if where else message)
                else:
                    self.form.add_error(None, f"{where}: {message}" if where else message)

    def _locate(self, parts: list[str]) -> tuple[forms.Form | None, str | None, str]:
        head, rest = parts[0], parts[1:]
        index = int(rest[0]) if rest and rest[0].isdigit() else None
        if head == "rules" and index is not None and index < len(self._sources):
            source = self._sources[index]
            return self._locate_in_rule(source, rest[1:])
        if head == "rules":
            return self.form, None, "Rules"
        if head == "default_serve":
            return self._locate_serve(self.form, rest, self._default_slices, "Default serve")
        if head == "targets":
            if index is not None and index < len(self._target_variants):
                variant_index = self._target_variants[index]
                return self.form, f"targets_{variant_index}", f"Individual targets for {self.variants[variant_index]!r}"
            return self.form, None, "Individual targets"
        if head in {"bucket_by", "reason"}:
            return self.form, head, head.replace("_", " ").capitalize()
        return self.form, None, ".".join(parts)

    def _locate_in_rule(self, source: _RuleSource, rest: list[str]) -> tuple[forms.Form, str | None, str]:
        where = f"Rule {source.number}"
        if not rest:
            return source.form, None, where
        if rest[0] == "description":
            return source.form, "description", where
        if rest[0] == "serve":
            return self._locate_serve(source.form, rest[1:], source.slices, f"{where}, serve")
        if rest[0] == "clauses" and len(rest) > 1 and rest[1].isdigit() and int(rest[1]) < len(source.clause_rows):
            row = source.clause_rows[int(rest[1])]
            where = f"{where}, clause {row + 1}"
            name = rest[2] if len(rest) > 2 else None
            if name == "values" and len(rest) > 3 and rest[3].isdigit():
                where = f"{where}, value {int(rest[3]) + 1}"
            if name in CLAUSE_FIELDS:
                return source.form, f"clause_{row}_{name}", where
            return source.form, None, where
        return source.form, None, where

    def _locate_serve(
        self, form: forms.Form, rest: list[str], slices: list[int], where: str
    ) -> tuple[forms.Form, str | None, str]:
        if rest[:1] == ["variant"]:
            return form, "serve_variant", where
        if rest[:1] == ["split"] and len(rest) > 1 and rest[1].isdigit() and int(rest[1]) < len(slices):
            variant_index = slices[int(rest[1])]
            return form, f"percent_{variant_index}", f"{where}, {self.variants[variant_index]!r}"
        return form, "serve_mode", where
