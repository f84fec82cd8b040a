"""Wire format 2: health signals per unit group are stored and summed; format 1 is still counted."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from controlplane.metrics import inbox
from controlplane.metrics.histogram import HISTOGRAM_SIZE
from controlplane.metrics.models import MetricBatch, MetricUnitBucket
from controlplane.metrics.queries import arm_counts
from controlplane.metrics.wire import read_batch
from flagplane.metrics import UNIT_GROUPS

pytestmark = pytest.mark.django_db


def units(groups: dict[int, tuple[int, int]]) -> dict:
    """{group: (successes, errors)}; every signal took 1 ms (the first latency bucket)."""
    order = sorted(groups)
    return {
        "groups": UNIT_GROUPS,
        "group": order,
        "successes": [groups[g][0] for g in order],
        "errors": [groups[g][1] for g in order],
        "latency_counts": [[sum(groups[g])] + [0] * (HISTOGRAM_SIZE - 1) for g in order],
    }


def grouped_entry(entry, groups: dict[int, tuple[int, int]], **fields) -> dict:
    successes = sum(s for s, _ in groups.values())
    errors = sum(e for _, e in groups.values())
    signals = successes + errors
    counts = [signals] + [0] * (HISTOGRAM_SIZE - 1)
    return {**entry(successes=successes, errors=errors, counts=counts, **fields), "units": units(groups)}


def since() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


def test_unit_groups_of_two_batches_and_two_sdks_add_up_per_group(post, production, entry, make_batch):
    first = make_batch(grouped_entry(entry, {0: (10, 1), 63: (5, 0)}), batch_id="a" * 32)
    second = make_batch(grouped_entry(entry, {0: (2, 2), 7: (1, 0)}), batch_id="b" * 32)
    for batch in (first, second):
        response = post({**batch, "format": 2})
        assert response.status_code == 202, response.content
    counts = arm_counts(production.id, "new-checkout", ["on"], since())
    assert counts.requests == 21 and counts.ungrouped == 0
    assert len(counts.unit_requests) == UNIT_GROUPS
    assert (counts.unit_requests[0], counts.unit_errors[0]) == (15, 3)
    assert (counts.unit_requests[7], counts.unit_errors[7]) == (1, 0)
    assert (counts.unit_requests[63], counts.unit_errors[63]) == (5, 0)
    assert sum(counts.unit_requests) == 21
    assert counts.unit_histograms[0][0] == 15 and sum(counts.unit_histograms[0]) == 15
    assert sorted(MetricUnitBucket.objects.values_list("unit_groups", flat=True)) == [[0, 7], [0, 63]]  # per batch


def test_a_retried_batch_adds_its_unit_groups_once(post, production, entry, make_batch):
    batch = {**make_batch(grouped_entry(entry, {3: (4, 1)})), "format": 2}
    assert post(batch).status_code == 202
    assert post(batch).json() == {"accepted": 0, "duplicate": True, "queued": False}
    counts = arm_counts(production.id, "new-checkout", ["on"], since())
    assert counts.unit_requests[3] == 5


def test_format_1_batches_are_counted_as_ungrouped(post, production, entry, make_batch):
    assert post(make_batch(entry(successes=8, errors=2))).status_code == 202  # no "format": version 1
    counts = arm_counts(production.id, "new-checkout", ["on"], since())
    assert (counts.requests, counts.errors, counts.ungrouped) == (10, 2, 10)
    assert counts.unit_requests == () and not MetricUnitBucket.objects.exists()


def test_a_format_2_entry_without_unit_groups_is_neither_grouped_nor_old(post, production, entry, make_batch):
    # e.g. a variant a targeting rule served to everyone it matched: nothing to randomise.
    assert post({**make_batch(entry(successes=8, errors=2)), "format": 2}).status_code == 202
    counts = arm_counts(production.id, "new-checkout", ["on"], since())
    assert (counts.requests, counts.ungrouped, counts.unit_requests) == (10, 0, ())


def refused(response) -> dict:
    assert response.status_code == 400, response.content
    assert not MetricBatch.objects.exists() and not MetricUnitBucket.objects.exists()
    return response.json()


def test_an_unknown_format_is_refused_rather_than_misread(post, make_batch):
    body = refused(post({**make_batch(), "format": 3}))
    assert "Unknown wire format 3" in body["format"][0]


def test_unit_groups_in_a_format_1_batch_are_refused(post, make_batch, entry):
    body = refused(post(make_batch(grouped_entry(entry, {1: (1, 0)}))))
    assert body["format"] == ["Unit groups need format 2."]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"groups": 32}, "groups", "Must be 64"),
        ({"group": [1, 1]}, "group", "strictly increasing"),
        ({"group": [64, 65]}, "group", "from 0 to 63"),
        ({"errors": [0]}, "errors", "one item per group"),
    ],
)
def test_malformed_unit_groups_are_refused_with_the_field(post, make_batch, entry, change, field, message):
    bad = grouped_entry(entry, {1: (1, 0), 2: (1, 0)})
    bad["units"] = {**bad["units"], **change}
    body = refused(post({**make_batch(bad), "format": 2}))
    assert message in str(body["flags"]["0"]["units"][field])


def test_unit_groups_may_not_hold_more_than_the_entry(post, make_batch, entry):
    bad = grouped_entry(entry, {1: (5, 0)})
    bad["successes"] = 4
    bad["latency_ms"]["counts"] = [4] + [0] * (HISTOGRAM_SIZE - 1)
    body = refused(post({**make_batch(bad), "format": 2}))
    assert "more successes or errors than the entry" in str(body["flags"]["0"]["units"])


@pytest.mark.parametrize("units_in_both", [True, False])
def test_two_periods_added_up_are_what_one_window_over_both_counts(post, production, entry, make_batch, units_in_both):
    """``ArmTotals.plus``, as the rollout engine adds a period's new buckets to its stored counts:
    unit groups in both periods, or in one of them only (the other's SDKs send none)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    middle = start + timedelta(minutes=10)
    plain = {
        **make_batch(
            entry(successes=6, errors=1, counts=[7] + [0] * 13, latency_sum=7.25), end=start + timedelta(minutes=1)
        )
    }
    grouped = [
        {**make_batch(grouped_entry(entry, groups), end=start + timedelta(minutes=minutes)), "format": 2}
        for minutes, groups in ((2, {0: (10, 1), 9: (3, 0)}), (12, {9: (1, 1), 40: (8, 0)}))
    ]
    for batch in [plain, *grouped] if units_in_both else [plain, grouped[1]]:
        assert post(batch).status_code == 202
    whole = arm_counts(production.id, "new-checkout", ["on"], start)
    first = arm_counts(production.id, "new-checkout", ["on"], start, middle)
    assert first.plus(arm_counts(production.id, "new-checkout", ["on"], middle)) == whole
    assert (bool(first.unit_requests), bool(whole.unit_requests)) == (units_in_both, True)


def test_unit_groups_as_the_sdk_sends_them_read_as_they_do_field_by_field(entry, make_batch):
    now = datetime.now(UTC)
    batch = {**make_batch(grouped_entry(entry, {0: (10, 1), 9: (3, 0), 63: (5, 2)}), end=now), "format": 2}
    by_field = copy.deepcopy(batch)
    by_field["flags"][0]["units"]["groups"] = "64"  # as DRF's IntegerField reads it: not the SDK's plain form
    assert read_batch(batch, now) == read_batch(by_field, now)
    assert read_batch(batch, now).entries[0].units.group == [0, 9, 63]


def test_a_group_with_more_latencies_than_signals_is_refused(post, make_batch, entry):
    bad = grouped_entry(entry, {1: (1, 0), 2: (1, 0)})
    bad["units"]["latency_counts"][1] = [2] + [0] * (HISTOGRAM_SIZE - 1)
    body = refused(post({**make_batch(bad), "format": 2}))
    assert body["flags"]["0"]["units"] == ["Group 2: more latencies than signals."]


def test_an_entry_listing_no_groups_stores_none(post, production, entry, make_batch):
    assert post({**make_batch(grouped_entry(entry, {})), "format": 2}).status_code == 202
    assert not MetricUnitBucket.objects.exists()


def test_a_batch_of_ten_thousand_series_with_unit_groups_is_accepted_at_8_mib(sdk, production, entry, make_batch):
    groups = {group: (3, 1) for group in range(0, UNIT_GROUPS, UNIT_GROUPS // 16)}  # 16 groups a series
    batch = make_batch(
        *(grouped_entry(entry, groups, flag=f"flag-{i // 2}", variant=f"v{i % 2}") for i in range(10_000))
    )
    body = json.dumps({**batch, "format": 2}, separators=(",", ":")).encode()  # as the SDK sends it
    assert 8 * 1024 * 1024 < len(body) < settings.API_MAX_BODY_BYTES  # over Django's 2.5 MiB
    response = sdk.post("/api/v1/metrics", body, content_type="application/json")
    assert response.status_code == 202, response.content[:500]
    assert response.json() == {"accepted": 10_000, "duplicate": False, "queued": True}  # 20,000 rows: parked
    assert inbox.drain()["counted"] == 1
    assert MetricUnitBucket.objects.filter(environment=production).count() == 10_000  # a row per series


def test_a_series_with_unit_groups_counts_as_two_rows_against_the_park_threshold(
    post, production, entry, make_batch, settings
):
    """Its bucket row and its one unit row, however many groups: 300 series of 16 groups are 600 rows."""
    settings.METRICS_PARK_ROWS = 600
    groups = {group: (3, 1) for group in range(0, UNIT_GROUPS, UNIT_GROUPS // 16)}

    def batch(series: int) -> dict:
        return {**make_batch(*(grouped_entry(entry, groups, flag=f"flag-{i}") for i in range(series))), "format": 2}

    assert post(batch(300)).json() == {"accepted": 300, "duplicate": False, "queued": False}
    assert MetricUnitBucket.objects.filter(environment=production).count() == 300
    assert post(batch(301)).json() == {"accepted": 301, "duplicate": False, "queued": True}
    assert inbox.drain()["counted"] == 1
    assert MetricUnitBucket.objects.filter(environment=production).count() == 300 + 301


def test_a_batch_stores_a_row_per_series_with_only_the_latency_counts_that_are_not_zero(
    post, production, entry, make_batch
):
    no_latencies = grouped_entry(entry, {5: (2, 0)}, flag="quiet", variant="off")
    no_latencies["units"]["latency_counts"] = [[0] * HISTOGRAM_SIZE]  # a series between two, with no latencies
    spread = grouped_entry(entry, {1: (3, 1), 62: (2, 0)}, flag="spread")
    spread["units"]["latency_counts"] = [[1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0] * (HISTOGRAM_SIZE - 1) + [2]]
    last = grouped_entry(entry, {0: (1, 0)}, flag="zz")
    assert post({**make_batch(no_latencies, spread, last), "format": 2}).status_code == 202

    rows = {row.flag_key: row for row in MetricUnitBucket.objects.all()}
    assert sorted(rows) == ["quiet", "spread", "zz"]
    assert (rows["quiet"].latency_bins, rows["quiet"].latency_counts) == ([], [])
    assert rows["spread"].latency_bins == [14, 16, 27, 62 * HISTOGRAM_SIZE + 13]
    assert rows["spread"].latency_counts == [1, 2, 1, 2]
    assert rows["zz"].histograms() == {0: [1] + [0] * (HISTOGRAM_SIZE - 1)}
    counts = arm_counts(production.id, "spread", ["on"], since())
    assert counts.unit_histograms[1] == (1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    assert counts.unit_histograms[62] == (0,) * (HISTOGRAM_SIZE - 1) + (2,)
    assert (counts.unit_requests[1], counts.unit_errors[1], counts.unit_requests[62]) == (4, 1, 2)
    quiet = arm_counts(production.id, "quiet", ["off"], since())
    assert (quiet.unit_requests[5], quiet.unit_histograms[5]) == (2, (0,) * HISTOGRAM_SIZE)
