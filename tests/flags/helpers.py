"""Helpers of the flag tests."""

from __future__ import annotations

from controlplane.flags.models import FlagState


def targeting_post(state: FlagState, **overrides) -> dict:
    """What the targeting page posts with nothing changed, plus the given fields (no rules, one empty extra)."""
    variants = state.flag.variant_keys()
    data = {
        "version": str(state.version),
        "clause_rows": "4",
        "bucket_by": state.bucket_by,
        "serve_mode": "variant",
        "serve_variant": state.default_serve.get("variant", ""),
        "split_order": ",".join(variants),
        "reason": "tested in staging",  # production requires a reason
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-serve_mode": "variant",
        "rules-0-split_order": ",".join(variants),
    }
    data.update(overrides)
    return data


def layout_without_compact(**overrides) -> dict:
    """What the layout flag's change page posts to replace its variant "compact" with "x" (refused
    while an environment still serves compact), plus the given fields."""
    data = {
        "name": "Layout",
        "description": "",
        "tags": "",
        "owner": "",
        "kind": "multivariate",
        "variant_type": "string",
        "off_variant": "control",
        "salt": "",
        "variants": '[{"key": "control", "value": "c"}, {"key": "x", "value": "x"}]',
    }
    data.update(overrides)
    return data
