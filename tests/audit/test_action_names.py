"""Every audit action is named once, in audit/actions.py: no write spells a name of its own."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from controlplane.audit import actions
from controlplane.rollouts.actions import ACTIONS

PACKAGE = Path(__file__).resolve().parents[2] / "controlplane"


def spelled_actions() -> Iterator[str]:
    """Calls of ``record`` (and ``action=`` arguments) given a literal name instead of a constant."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            called = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            given = [node.args[1]] if called == "record" and len(node.args) > 1 else []
            if called != "add_argument":  # argparse's action="store_true"
                given += [keyword.value for keyword in node.keywords if keyword.arg == "action"]
            if any(isinstance(value, ast.Constant | ast.JoinedStr) for value in given):
                yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"


def test_the_services_record_the_names_of_audit_actions():
    assert list(spelled_actions()) == []


def test_every_name_is_an_object_and_a_verb_and_names_one_action():
    names = [value for key, value in vars(actions).items() if key.isupper()]
    names += [actions.rollout_decision(action.name) for action in ACTIONS]
    assert [name for name in names if not re.fullmatch(r"[a-z_]+\.[a-z_]+", name)] == []
    assert len(names) == len(set(names))
