"""Known catastrophic regexes (docs/golden/redos.json): refused with a reason, or evaluated at once.

A pattern the control plane accepts is one that SDKs, and the control plane's own preview,
match with RE2 in a bounded time: its program has at most MAX_PROGRAM_SIZE instructions and it
reads at most MAX_INPUT_BYTES of the attribute. The SDK's tests time every accepted pattern on
adversarial inputs; here the API's answers are checked, and the preview that used to run until
the web worker was killed answers.
"""

import json
from pathlib import Path

import pytest

from controlplane.flags.models import FlagState
from flagplane import regex

CORPUS = json.loads((Path(__file__).resolve().parents[2] / "docs/golden/redos.json").read_text("utf-8"))
STATE_URL = "/api/v1/projects/shop/flags/new-checkout/environments/production/"
PREVIEW_URL = "/api/v1/projects/shop/flags/new-checkout/preview/"
REASONS = ("Invalid regular expression", "is too complex", "at most 1000 characters")


def put_regex(api, pattern: str):
    clause = {"attribute": "ref", "op": "regex", "values": [pattern]}
    return api.patch(
        STATE_URL, {"rules": [{"clauses": [clause], "serve": {"variant": "on"}}], "reason": "regex"}, format="json"
    )


@pytest.mark.parametrize("case", CORPUS["patterns"], ids=lambda case: case["pattern"][:40])
def test_a_catastrophic_pattern_is_refused_with_a_reason_or_previewed_at_once(api, checkout_flag, case):
    pattern = case["pattern"]
    response = put_regex(api, pattern)
    state = FlagState.objects.get(flag=checkout_flag, environment__key="production")
    if response.status_code == 400:
        message = response.json()["rules.0.clauses.0.values.0"][0]
        assert any(reason in message for reason in REASONS), message
        assert state.rules == []
        return
    assert response.status_code == 200, response.json()
    assert regex.compile_pattern(pattern).programsize <= regex.MAX_PROGRAM_SIZE
    assert state.rules[0]["clauses"][0]["values"] == [pattern]
    contexts = [{"key": "u", "ref": "a" * (regex.MAX_INPUT_BYTES - 1) + "!"}, {"key": "u", "ref": "a" * 40 + "!"}]
    preview = api.post(PREVIEW_URL, {"environment": "production", "contexts": contexts}, format="json")
    assert preview.status_code == 200, preview.json()
    assert len(preview.json()["results"]) == 2


def test_the_issues_patterns_get_the_answers_users_were_promised(api, checkout_flag):
    assert put_regex(api, "^(a|a)*$").status_code == 200  # linear in RE2: nothing to refuse
    nested = put_regex(api, "(" * 600 + "a" + ")" * 600)  # a 500 before
    assert nested.status_code == 400
    assert "at most 1000 characters" in nested.json()["rules.0.clauses.0.values.0"][0]
    backreference = put_regex(api, r"(a*)*\1")
    assert backreference.status_code == 400
    assert "no backreferences" in backreference.json()["rules.0.clauses.0.values.0"][0]
    blowup = put_regex(api, "(.*a){100}")
    assert blowup.status_code == 400
    assert "1104 RE2 instructions" in blowup.json()["rules.0.clauses.0.values.0"][0]
