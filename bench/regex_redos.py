"""How long a regex clause can take: the ReDoS corpus (docs/golden/redos.json) against the bounds.

For each pattern: the control plane's verdict (``flags.validation.regex_problem``); for each one it
accepts, the slowest ``Client.is_enabled`` over the corpus's adversarial inputs, filled to
``flagplane.regex.MAX_INPUT_BYTES`` (the fastest of 7 runs per input, so that a busy machine does
not count), against the 1 ms budget. For contrast, Python's backtracking ``re`` on the issue's
``^(a|a)*$`` at a few lengths (each extra character doubles its time).

Usage: ``.venv/bin/python bench/regex_redos.py``. The last line is a machine-readable summary.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sdk"))

from controlplane.flags.validation import regex_problem  # noqa: E402
from flagplane import Client, regex  # noqa: E402

BUDGET_US = 1000.0
RUNS = 7


def adversarial(unit: str, suffix: str) -> str:
    """``unit`` repeated, then ``suffix``, as long as fits in MAX_INPUT_BYTES bytes of UTF-8."""
    text = ""
    while len((text + unit + suffix).encode()) <= regex.MAX_INPUT_BYTES:
        text += unit
    return text + suffix


def document(pattern: str) -> dict:
    clause = {"attribute": "ref", "op": "regex", "values": [pattern], "negate": False, "case_insensitive": False}
    flag = {
        "key": "f",
        "kind": "boolean",
        "variant_type": "boolean",
        "version": 1,
        "on": True,
        "salt": "f",
        "bucket_by": "key",
        "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
        "off_variant": "off",
        "targets": [],
        "rules": [{"id": "r", "description": "", "clauses": [clause], "serve": {"variant": "on"}}],
        "default": {"variant": "off"},
    }
    return {"schema_version": 1, "project": "p", "environment": "e", "version": 1, "flags": {"f": flag}, "segments": {}}


def slowest_us(client: Client, inputs: list[str]) -> float:
    worst = 0.0
    for text in inputs:
        context = {"key": "u", "ref": text}
        fastest = float("inf")
        for _ in range(RUNS):
            started = time.perf_counter()
            client.is_enabled("f", context, default=False)
            fastest = min(fastest, time.perf_counter() - started)
        worst = max(worst, fastest)
    return worst * 1e6


def backtracking_ms(length: int) -> float:
    pattern = re.compile("^(a|a)*$")
    started = time.perf_counter()
    pattern.search("a" * length + "!")
    return (time.perf_counter() - started) * 1000


def main() -> None:
    corpus = json.loads((ROOT / "docs/golden/redos.json").read_text("utf-8"))
    inputs = [adversarial(case["unit"], case["suffix"]) for case in corpus["inputs"]]
    refused = accepted = 0
    worst_us, worst_pattern = 0.0, ""
    print(f"{'verdict':8} {'program':>7} {'slowest':>10}  pattern")
    for case in corpus["patterns"]:
        pattern = case["pattern"]
        shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
        problem = regex_problem(pattern, False)
        if problem is not None:
            refused += 1
            print(f"{'refused':8} {'':>7} {'':>10}  {shown}  ({problem[:70]}...)")
            continue
        accepted += 1
        program = regex.compile_pattern(pattern).programsize
        us = slowest_us(Client.from_document(document(pattern)), inputs)
        if us > worst_us:
            worst_us, worst_pattern = us, pattern
        print(f"{'accepted':8} {program:>7} {us:>8.1f}us  {shown}")
    print(f"slowest accepted pattern: {worst_pattern!r}, {worst_us:.1f} us (budget {BUDGET_US:.0f} us)")
    contrast = {length: backtracking_ms(length) for length in (16, 18, 20, 22)}
    print("Python re, ^(a|a)*$ on a^n!: " + ", ".join(f"n={n}: {ms:.0f} ms" for n, ms in contrast.items()))
    print(
        f"regex_redos: patterns={refused + accepted} refused={refused} accepted={accepted} inputs={len(inputs)} "
        f"input_bytes={regex.MAX_INPUT_BYTES} max_program={regex.MAX_PROGRAM_SIZE} worst_us={worst_us:.1f} "
        f"budget_us={BUDGET_US:.0f} python_re_n22_ms={contrast[22]:.0f}"
    )


if __name__ == "__main__":
    main()
