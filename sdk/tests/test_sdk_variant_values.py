"""One check of variant values (``engine.value_fits``): the engine, the client's defaults and the
control plane agree, and none of them accepts NaN or infinity."""

from __future__ import annotations

import math
from typing import Any

import pytest

from flagplane import Client
from flagplane.engine import InvalidDocument, compile_document, value_fits

NON_FINITE = [math.nan, math.inf, -math.inf]


def number_flag(flag_factory: Any, *values: Any) -> dict[str, Any]:
    return flag_factory(
        "n",
        kind="multivariate",
        variant_type="number",
        variants=[{"key": f"v{i}", "value": v} for i, v in enumerate(values)],
        off_variant="v0",
        default={"variant": "v0"},
    )


@pytest.mark.parametrize(
    ("variant_type", "value", "fits"),
    [
        ("number", 1, True),
        ("number", 2.5, True),
        ("number", True, False),
        ("number", "1", False),
        *(("number", v, False) for v in NON_FINITE),
        ("string", "a", True),
        ("string", 1, False),
        ("boolean", False, True),
        ("boolean", 0, False),
        ("json", {"a": [1, 2.5, None]}, True),
        *(("json", v, False) for v in NON_FINITE),
        ("json", {"a": [1, math.nan]}, False),
        ("json", [{"b": math.inf}], False),
    ],
)
def test_value_fits(variant_type: str, value: Any, fits: bool) -> None:
    assert value_fits(variant_type, value) is fits


@pytest.mark.parametrize("bad", NON_FINITE)
def test_a_document_with_a_non_finite_number_variant_is_refused(
    bad: float, flag_factory: Any, document_factory: Any
) -> None:
    with pytest.raises(InvalidDocument, match=r"variants\[1\]\.value"):
        compile_document(document_factory(number_flag(flag_factory, 1, bad)))


@pytest.mark.parametrize("bad", NON_FINITE)
def test_a_non_finite_default_is_not_a_number_the_flag_could_serve(
    bad: float, flag_factory: Any, document_factory: Any
) -> None:
    client = Client.from_document(document_factory(number_flag(flag_factory, 1, 2)))
    assert client.evaluate("n", "u", 3).value == 1
    result = client.evaluate("n", "u", bad)
    assert result.reason == "ERROR" and result.variant is None
    assert client.variant("n", "u", 3) == 1
    assert client.variant("n", {"key": "u"}, bad) is bad
