"""Health signals and evaluation counts: aggregation, the wire format, retries, bounds,
flush on close and at exit, and fork safety."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from flagplane import LATENCY_BOUNDS_MS, Client
from flagplane.bucketing import bucket
from flagplane.metrics import UNIT_GROUPS, MetricsBuffer, MetricsSender, unit_group

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def ready_client(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any
) -> Client:
    control_plane.publish(
        document_factory(
            flag_factory("checkout"), flag_factory("always", default={"variant": "on"}), version=4
        )
    )
    client = make_client()
    assert client.wait_until_ready(timeout=5)
    return client


def _series(batches: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for batch in batches:
        for entry in batch["flags"]:
            out[(entry["flag"], entry["variant"])] = entry
    return out


def test_batch_follows_the_documented_wire_format(control_plane: Any, ready_client: Client) -> None:
    with ready_client.guard("always", "u") as enabled:
        assert enabled is True
    assert ready_client.flush_metrics() is True
    (batch,) = control_plane.metrics_batches
    assert set(batch) == {
        "format",
        "sdk",
        "batch_id",
        "document_version",
        "period",
        "flags",
        "dropped",
    }
    assert batch["format"] == 2
    assert batch["sdk"] == {"name": "flagplane-python", "version": "0.1.0"}
    assert re.fullmatch(r"[0-9a-f]{32}", batch["batch_id"])
    assert batch["document_version"] == 4
    assert RFC3339_UTC.match(batch["period"]["start"]) and RFC3339_UTC.match(batch["period"]["end"])
    assert batch["period"]["start"] <= batch["period"]["end"]
    (entry,) = batch["flags"]
    assert entry["flag"] == "always" and entry["variant"] == "on"
    assert (entry["evaluations"], entry["successes"], entry["errors"]) == (1, 1, 0)
    latency = entry["latency_ms"]
    assert latency["bounds"] == list(LATENCY_BOUNDS_MS)
    assert len(latency["counts"]) == len(LATENCY_BOUNDS_MS) + 1
    assert sum(latency["counts"]) == 1 and latency["sum"] >= 0
    assert batch["dropped"] == 0


def test_guard_records_errors_and_reraises(control_plane: Any, ready_client: Client) -> None:
    for _ in range(3):
        with pytest.raises(KeyError), ready_client.guard("always", {"key": "u"}):
            raise KeyError("boom")
    with ready_client.guard("always", {"key": "u"}):
        pass
    ready_client.flush_metrics()
    entry = _series(control_plane.metrics_batches)[("always", "on")]
    assert (entry["successes"], entry["errors"], entry["evaluations"]) == (1, 3, 4)


def test_evaluation_counts_per_variant(control_plane: Any, ready_client: Client) -> None:
    served = [ready_client.is_enabled("checkout", f"user-{i}") for i in range(1000)]
    for i in range(10):
        ready_client.variant("checkout", {"key": f"user-{i}"})
    ready_client.flush_metrics()
    series = _series(control_plane.metrics_batches)
    assert (
        series[("checkout", "on")]["evaluations"] + series[("checkout", "off")]["evaluations"]
        == 1010
    )
    assert series[("checkout", "on")]["evaluations"] >= served.count(True)


def test_manual_record_with_variant_or_context(control_plane: Any, ready_client: Client) -> None:
    ready_client.record("always", "on", ok=True, latency_ms=3)
    ready_client.record("always", {"key": "u"}, ok=False, latency_ms=700)
    ready_client.record("always", "no-such-variant", ok=True)  # ignored with a warning
    ready_client.flush_metrics()
    entry = _series(control_plane.metrics_batches)[("always", "on")]
    assert (entry["successes"], entry["errors"], entry["evaluations"]) == (1, 1, 0)
    bounds = entry["latency_ms"]["bounds"]
    assert entry["latency_ms"]["counts"][bounds.index(5)] == 1  # 3 ms -> (2, 5]
    assert entry["latency_ms"]["counts"][bounds.index(1000)] == 1  # 700 ms -> (500, 1000]
    assert entry["latency_ms"]["sum"] == 703


def test_failed_posts_are_retried_with_the_same_batch(
    control_plane: Any, ready_client: Client
) -> None:
    control_plane.metrics_statuses.extend([500, 503])
    ready_client.record("always", "on", ok=True)
    assert ready_client.flush_metrics() is False
    ready_client.record("always", "on", ok=False)
    assert ready_client.flush_metrics() is False
    assert ready_client.flush_metrics() is True
    batches = control_plane.metrics_batches
    assert len(batches) == 2
    assert len({b["batch_id"] for b in batches}) == 2
    assert sum(e["successes"] + e["errors"] for b in batches for e in b["flags"]) == 2


def test_buffer_is_bounded_and_counts_what_it_drops() -> None:
    buffer = MetricsBuffer(max_series=2)
    buffer.record("a", "on", True, None)
    buffer.record("b", "on", True, None)
    buffer.record("c", "on", True, None)
    buffer.add_evaluations("d", "on", 5)
    batch = buffer.drain()
    assert batch is not None
    assert {(f["flag"], f["variant"]) for f in batch["flags"]} == {("a", "on"), ("b", "on")}
    assert batch["dropped"] == 6
    assert buffer.drain() is None


def test_unsent_batches_are_bounded(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("always", default={"variant": "on"})))
    client = make_client()
    assert client.wait_until_ready(timeout=5)
    client._sender._max_unsent = 2
    control_plane.metrics_statuses.extend([500] * 4)
    for _ in range(4):
        client.record("always", "on", ok=True)
        client.flush_metrics()
    assert client._sender.unsent == 2
    assert client.flush_metrics() is True
    assert sum(b["dropped"] for b in control_plane.metrics_batches) >= 2


def test_close_flushes_metrics(control_plane: Any, ready_client: Client) -> None:
    ready_client.record("always", "on", ok=True)
    ready_client.close()
    assert _series(control_plane.metrics_batches)[("always", "on")]["successes"] == 1


def test_background_flush_sends_periodically(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any, eventually: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("always", default={"variant": "on"})))
    client = make_client(metrics_flush_interval=0.05)
    assert client.wait_until_ready(timeout=5)
    client.is_enabled("always", "u")
    assert eventually(lambda: bool(control_plane.metrics_batches))


def test_metrics_are_flushed_at_interpreter_exit(
    control_plane: Any, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("always", default={"variant": "on"})))
    script = textwrap.dedent(f"""
        import flagplane
        client = flagplane.Client(sdk_key={control_plane.sdk_key!r}, base_url={control_plane.url!r},
                                  metrics_flush_interval=3600)
        assert client.wait_until_ready(5)
        for _ in range(7):
            client.is_enabled("always", "u")
        # no close(): the atexit hook must flush
    """)
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert _series(control_plane.metrics_batches)[("always", "on")]["evaluations"] == 7


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_its_own_refresher_and_empty_metrics(ready_client: Client) -> None:
    ready_client.record("always", "on", ok=True)
    for _ in range(5):
        ready_client.is_enabled("always", "u")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            names = [t.name for t in threading.enumerate() if t.is_alive()]
            buffered = ready_client._metrics.drain()
            ready_client._metrics.harvest(ready_client._flags.values())
            after_harvest = ready_client._metrics.drain()
            report = {
                "refresher": "flagplane-refresh" in names,
                "buffered": buffered,
                "harvested": after_harvest,
                "enabled": ready_client.is_enabled("always", "u"),
            }
            os.write(write_fd, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        report = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert report == {"refresher": True, "buffered": None, "harvested": None, "enabled": True}
    # the parent still has its own numbers
    ready_client._metrics.harvest(ready_client._flags.values())
    batch = ready_client._metrics.drain()
    assert batch is not None and batch["flags"][0]["successes"] == 1


def _documented_schema() -> dict[str, Any]:
    text = (Path(__file__).resolve().parents[2] / "docs/metrics-wire-format.md").read_text()
    section = text.split("## Suggested validation", 1)[1]
    return json.loads(section.split("```json", 1)[1].split("```", 1)[0])


def test_sent_batches_validate_against_the_documented_schema(
    control_plane: Any, ready_client: Client
) -> None:
    import jsonschema

    for i in range(50):
        ready_client.is_enabled("checkout", f"user-{i}")
    with ready_client.guard("always", "u"):
        pass
    for i in range(20):
        with ready_client.guard("checkout", f"user-{i}"):
            pass
    ready_client.record("checkout", "off", ok=False, latency_ms=12_000)
    ready_client._metrics.add_dropped(3)
    ready_client.flush_metrics()
    validator = jsonschema.Draft202012Validator(
        _documented_schema(), format_checker=jsonschema.FormatChecker()
    )
    (batch,) = control_plane.metrics_batches
    validator.validate(batch)
    assert batch["dropped"] == 3
    for entry in batch["flags"]:
        assert len(entry["latency_ms"]["counts"]) == len(entry["latency_ms"]["bounds"]) + 1
    overflow = _series([batch])[("checkout", "off")]["latency_ms"]["counts"][-1]
    assert overflow == 1
    assert any("units" in entry for entry in batch["flags"])


def test_split_served_signals_are_counted_in_the_units_group_on_every_instance(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout"), version=5))  # 50/50 split
    first, second = make_client(), make_client()
    assert first.wait_until_ready(timeout=5) and second.wait_until_ready(timeout=5)
    users = [f"user-{i}" for i in range(40)]
    for client in (first, second):
        for user in users:
            with contextlib.suppress(RuntimeError), client.guard("checkout", user):
                if user.endswith("7"):
                    raise RuntimeError("broken for this user")
    batches = [first._metrics.drain(), second._metrics.drain()]
    expected: dict[tuple[str, int], list[int]] = {}
    for user in users:
        value = bucket("checkout", user)
        variant = "on" if value < 50_000 else "off"
        row = expected.setdefault((variant, unit_group(value)), [0, 0])
        row[1 if user.endswith("7") else 0] += 1
    for batch in batches:
        assert batch is not None and batch["format"] == 2
        seen: dict[tuple[str, int], list[int]] = {}
        for entry in batch["flags"]:
            units = entry["units"]
            assert units["groups"] == UNIT_GROUPS
            assert units["group"] == sorted(units["group"])
            assert (
                sum(units["successes"]) == entry["successes"]
                and sum(units["errors"]) == entry["errors"]
            )
            assert [sum(c) for c in units["latency_counts"]] == [
                s + e for s, e in zip(units["successes"], units["errors"], strict=True)
            ]
            for g, s, e in zip(units["group"], units["successes"], units["errors"], strict=True):
                seen[(entry["variant"], g)] = [s, e]
        # Both instances put every user in the same group: the groups add up across SDKs.
        assert seen == expected


def test_signals_of_a_variant_not_served_by_a_split_carry_no_unit_groups(
    control_plane: Any, ready_client: Client
) -> None:
    with ready_client.guard("always", "u"):  # the default serves "on" to everyone
        pass
    ready_client.record("checkout", "on", ok=False)  # a variant key: the unit is unknown
    ready_client.record("checkout", {"key": "u-1"}, ok=True)  # a context: its group is known
    batch = ready_client._metrics.drain()
    assert batch is not None
    entries = _series([batch])
    assert "units" not in entries[("always", "on")]
    by_variant = {
        variant: entry for (flag, variant), entry in entries.items() if flag == "checkout"
    }
    grouped = [entry for entry in by_variant.values() if "units" in entry]
    assert len(grouped) == 1 and sum(grouped[0]["units"]["successes"]) == 1
    assert by_variant["on"]["errors"] == 1


def test_unsent_batches_are_kept_for_fifteen_minutes_then_dropped_as_counted() -> None:
    now = [0.0]
    buffer = MetricsBuffer()
    sender = MetricsSender(lambda batch: 503, buffer, clock=lambda: now[0])
    for _ in range(900):  # a 15-minute outage at a 1-s flush
        buffer.record("checkout", "on", ok=True, latency_ms=None)
        sender.enqueue(buffer.drain())
        assert sender.send_all() is False
        now[0] += 1.0
    assert sender.unsent == 900

    now[0] += 0.5
    buffer.record("checkout", "on", ok=True, latency_ms=None)
    sender.enqueue(buffer.drain())
    assert sender.unsent == 900  # the oldest, now older than 900 s, is dropped and counted
    assert buffer.drain()["dropped"] == 1
